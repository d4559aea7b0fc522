//! Throughput of the MS-FSSHTTPB decoder on a 16 MiB Put Changes request built with the
//! encoder and the MS-FSSHTTPD file-package helper (1 MiB chunks), and on a package of many
//! small objects.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use synctap::decode::fsshttpb::{
    build_put_changes_request, decode_request, encode_request, extract_file, FilePackageOptions,
};

fn put_changes_16mib(c: &mut Criterion) {
    let file: Vec<u8> = (0..16u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let payload = encode_request(&build_put_changes_request(
        &file,
        &FilePackageOptions::default(),
    ));
    let mut g = c.benchmark_group("fsshttpb");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.sample_size(20);
    g.bench_function("decode_request put changes 16 MiB", |b| {
        b.iter(|| decode_request(black_box(&payload)))
    });
    g.bench_function("decode_request + extract_file 16 MiB", |b| {
        b.iter(|| {
            let r = decode_request(black_box(&payload));
            r.data_element_package.as_ref().and_then(extract_file)
        })
    });
    g.finish();

    // Many small objects: a 4 MiB file in 256-byte chunks (16 384 leaf + data node pairs).
    let small = &file[..4 << 20];
    let opts = FilePackageOptions {
        chunk_size: 256,
        ..FilePackageOptions::default()
    };
    let payload = encode_request(&build_put_changes_request(small, &opts));
    let mut g = c.benchmark_group("fsshttpb-small-objects");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.sample_size(20);
    g.bench_function("decode_request 4 MiB in 256-byte chunks", |b| {
        b.iter(|| decode_request(black_box(&payload)))
    });
    g.finish();
}

criterion_group!(benches, put_changes_16mib);
criterion_main!(benches);
