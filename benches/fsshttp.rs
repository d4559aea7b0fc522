//! Throughput of the MS-FSSHTTP decoder: an MTOM request carrying a 1 MiB Cell part,
//! a plain SOAP request with 20 subrequests, and the matching 20-subresponse reply.
//! All bodies are built with the encoder. Target (PRODUCT.md): 200 MB/s on one core.
// criterion_group! expands to an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use synctap::decode::fsshttp::{
    decode_request, decode_response, encode_request, encode_response, CellPayload,
    CoauthRequestType, CoauthStatus, EncodeOptions, LockType, PayloadOrigin, RequestEnvelope,
    ResponseEnvelope, SubRequest, SubRequestData, SubRequestType, SubResponse, SubResponseData,
};

#[path = "../tests/util/scenario.rs"]
mod scenario;
use scenario::{request_envelope, response_envelope, success, SCHEMA};

const FILE: &str = "https://contoso.example/sites/team/Shared Documents/Plan.docx";

fn request(subs: Vec<SubRequest>) -> RequestEnvelope {
    request_envelope(
        FILE,
        "{c0ffee00-1234-4abc-8def-0123456789ab}".to_owned(),
        subs,
    )
}

fn cell(token: u64, bytes: Vec<u8>) -> SubRequest {
    SubRequest {
        type_: Some(SubRequestType::Cell),
        sub_request_token: Some(token),
        sub_request_data: Some(SubRequestData {
            binary_data_size: Some(bytes.len() as i64),
            coalesce: Some(true),
            bypass_lock_id: Some(SCHEMA.to_owned()),
            payload: Some(CellPayload {
                bytes: bytes.into(),
                origin: PayloadOrigin::Inline,
            }),
            ..SubRequestData::default()
        }),
        ..SubRequest::default()
    }
}

fn coauth(token: u64) -> SubRequest {
    SubRequest {
        sub_request_token: Some(token),
        ..scenario::coauth(
            CoauthRequestType::RefreshCoauthoring,
            "{7a1f5c3e-0d44-4b8a-9f51-3c2e6b0d9a11}",
            Some(3600),
        )
    }
}

fn response(n: u64) -> ResponseEnvelope {
    let subs = (1..=n)
        .map(|t| SubResponse {
            sub_request_token: Some(t),
            ..success(SubResponseData {
                lock_type: Some(LockType::SchemaLock),
                coauth_status: Some(CoauthStatus::Coauthoring),
                ..SubResponseData::default()
            })
        })
        .collect();
    response_envelope(FILE, subs)
}

fn bench(c: &mut Criterion) {
    let payload: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let (ct_big, big) = encode_request(
        &request(vec![coauth(1), cell(2, payload)]),
        EncodeOptions {
            mtom: true,
            cell_inline: false,
        },
    );
    let many: Vec<SubRequest> = (1..=20)
        .map(|t| {
            if t % 4 == 0 {
                cell(t, vec![7; 64])
            } else {
                coauth(t)
            }
        })
        .collect();
    let many_req = request(many);
    let plain = EncodeOptions {
        mtom: false,
        cell_inline: true,
    };
    let (ct_many, many_body) = encode_request(&many_req, plain);
    let (ct_resp, resp_body) = encode_response(&response(20), plain);

    let mut g = c.benchmark_group("fsshttp");
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("decode_request_mtom_1MiB_cell", |b| {
        b.iter(|| decode_request(Some(black_box(&ct_big)), black_box(&big)));
    });
    g.throughput(Throughput::Bytes(many_body.len() as u64));
    g.bench_function("decode_request_20_subrequests", |b| {
        b.iter(|| decode_request(Some(black_box(&ct_many)), black_box(&many_body)));
    });
    g.throughput(Throughput::Bytes(resp_body.len() as u64));
    g.bench_function("decode_response_20_subresponses_joined", |b| {
        b.iter(|| {
            decode_response(
                Some(black_box(&ct_resp)),
                black_box(&resp_body),
                Some(&many_req),
            )
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
