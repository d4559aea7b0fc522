//! Tests of the FSSHTTPB decoder against the spec examples, the external sample files and
//! the encoder.

use super::cursor::Cursor;
use super::*;
use std::path::{Path, PathBuf};

/// `../shared/testdata/external` relative to the repository root, found from this file's
/// path so it works from /work/main (relative `file!()`) and from a crate that includes
/// this module by absolute path.
fn external_dir() -> Option<PathBuf> {
    let root = Path::new(file!()).ancestors().nth(4)?;
    let dir = root.join("../shared/testdata/external");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: external test data not found at {} (see shared/testdata/external/README.md)",
            dir.display()
        );
        None
    }
}

fn packaged_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("one") | Some("onetoc2")
            ) && !p.ends_with("non-legacy/Open Notebook.onetoc2")
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("test hex"))
        .collect()
}

#[test]
fn compact_integers_every_width() {
    let cases: &[(&str, u64)] = &[
        ("00", 0),
        ("03", 1),
        ("05", 2),
        ("0B", 5),
        ("17", 11),
        ("FF", 127),
        ("02 02", 128),
        ("FE FF", 16383),
        ("04 00 02", 16384),
        ("04 12 7A", 1_000_000),
        ("08 00 00 02", 0x200000),
        ("10 00 00 00 02", 0x1000_0000),
        ("20 00 00 00 00 40", 1 << 40),
        ("40 00 00 00 00 00 80", 1 << 48),
        ("80 00 00 00 00 00 00 00 10", 1 << 60),
    ];
    for (h, v) in cases {
        let b = hex(h);
        let mut c = Cursor::new(&b);
        assert_eq!(c.compact("x").ok(), Some(*v), "decoding {h}");
        assert!(c.is_empty(), "{h} fully consumed");
        let mut w = encode::W::default();
        w.compact(*v);
        assert_eq!(w.buf, b, "encoding {v}");
    }
    // Truncated forms fail with the offset of the integer.
    let b = hex("04 12");
    let e = Cursor::new(&b).compact("max").unwrap_err();
    assert_eq!(e.offset, 0);
    assert!(e.eof);
}

#[test]
fn extended_guids_every_form() {
    let g = "B9 FA DE 84 A3 AA 0D 4A A3 A8 52 0C 77 AC 70 73";
    let guid = FSSHTTPD_ROOT_GUID;
    let cases: &[(String, u32)] = &[
        (format!("14 {g}"), 2),
        (format!("0C {g}"), 1),
        (format!("20 08 {g}"), 0x20),
        (format!("E0 FF {g}"), 0x3FF),
        (format!("40 00 02 {g}"), 0x400),
        (format!("80 00 00 02 00 {g}"), 0x20000),
        (format!("80 FF FF FF FF {g}"), u32::MAX),
    ];
    for (h, v) in cases {
        let b = hex(h);
        let mut c = Cursor::new(&b);
        let e = c.exguid("x").expect("decodes");
        assert_eq!(e, ExGuid::new(guid, *v), "{h}");
        assert!(c.is_empty());
        let mut w = encode::W::default();
        w.exguid(&e);
        assert_eq!(w.buf, b);
    }
    assert_eq!(
        ExGuid::new(guid, 2).to_string(),
        "{84DEFAB9-AAA3-4A0D-A3A8-520C77AC7073},2"
    );
    let b = hex("00");
    assert_eq!(Cursor::new(&b).exguid("x").ok(), Some(ExGuid::NULL));
    let b = hex("01");
    let e = Cursor::new(&b).exguid("storage index").unwrap_err();
    assert!(e.message.contains("starts no extended guid form"), "{}", e.message);
}

#[test]
fn stream_object_headers() {
    // 16-bit: Data Element start, compound, length 43.
    let b = hex("0C 56");
    let h = Cursor::new(&b).header("x").expect("header");
    assert_eq!((h.object_type, h.compound, h.length), (0x01, true, 43));
    // FSSHTTPD intermediate node start 0x0104.
    let b = hex("04 01");
    let h = Cursor::new(&b).header("x").expect("header");
    assert_eq!((h.object_type, h.compound, h.length), (0x20, true, 0));
    // 32-bit with Large Length: non-compound 0x16 of 40 000 bytes.
    let b = hex("B2 00 FE FF 04 E2 04");
    let mut c = Cursor::new(&b);
    let h = c.header("x").expect("header");
    assert_eq!((h.object_type, h.compound, h.length), (0x16, false, 40_000));
    assert!(c.is_empty());
    let mut w = encode::W::default();
    w.start(0x16, false, 40_000);
    assert_eq!(w.buf, b);
    // 8-bit and 16-bit ends.
    for (h, ty) in [("05", 0x01u16), ("41", 0x10), ("55", 0x15), ("03 01", 0x40), ("8B 01", 0x62)] {
        let b = hex(h);
        let hd = Cursor::new(&b).header("x").expect("end");
        assert!(hd.is_end());
        assert_eq!(hd.object_type, ty);
        let mut w = encode::W::default();
        w.end(ty);
        assert_eq!(w.buf, b);
    }
}

#[test]
fn serial_number_and_cell_id() {
    let b = hex("80 37 2D 91 05 80 B3 D4 4A 8E BE 9D EA 85 0F D5 C3 01 00 00 00 00 00 00 00 00 00");
    let mut c = Cursor::new(&b);
    let s = c.serial("sn").expect("serial").expect("not null");
    assert_eq!(s.to_string(), "{05912D37-B380-4AD4-8EBE-9DEA850FD5C3},1");
    assert_eq!(c.cell_id("cell").ok(), Some(CellId::default()));
    assert!(c.is_empty());
}

#[test]
fn spec_4_4_put_changes_response() {
    let Some(dir) = external_dir() else { return };
    let b = std::fs::read(dir.join("ms-openspecs/ms-fsshttpb-4.4-put-changes-response.bin"))
        .expect("read");
    assert_eq!(sniff(&b), Some(Kind::Response));
    let r = decode_response(&b, None);
    assert_eq!(r.diagnostics, vec![]);
    assert_eq!(r.unknown, vec![]);
    assert_eq!((r.protocol_version, r.minimum_version), (12, 11));
    assert_eq!(r.signature, RESPONSE_SIGNATURE);
    assert_eq!(r.status, 0);
    assert!(r.error.is_none());
    assert!(r.data_element_package.is_none());
    assert_eq!(r.sub_responses.len(), 1);
    let s = &r.sub_responses[0];
    assert_eq!((s.request_id, s.request_type, s.status), (1, 5, 0));
    assert_eq!((s.offset, s.end), (17, 145 - 2));
    let SubResponseData::PutChanges(p) = &s.data else {
        panic!("expected PutChanges, got {:?}", s.data)
    };
    assert!(p.applied.is_none());
    let k = p.resultant_knowledge.as_ref().expect("resultant knowledge");
    assert_eq!(k.offset, 24);
    assert_eq!(k.entries.len(), 2);
    let SpecializedKnowledge::CellKnowledge(ranges) = &k.entries[0] else {
        panic!("expected cell knowledge")
    };
    assert_eq!(
        ranges,
        &vec![
            CellKnowledgeItem::Range {
                guid: Guid::parse("{92699222-AD46-B353-9489-C24F5ACFA09A}").expect("guid"),
                from: 0,
                to: 0x74,
            },
            CellKnowledgeItem::Range {
                guid: Guid::parse("{6D966DDD-52B9-4CAC-9489-C24F5ACFA09A}").expect("guid"),
                from: 0,
                to: 0x6F,
            },
        ]
    );
    let SpecializedKnowledge::ContentTagKnowledge(tags) = &k.entries[1] else {
        panic!("expected content tag knowledge")
    };
    assert_eq!(tags.len(), 1);
    assert_eq!(
        tags[0].blob_heap_id.to_string(),
        "{37410BF9-D16F-4499-A6C3-27232EDCA711},1"
    );
    assert_eq!(tags[0].clock_data.0, vec![0x33, 0, 0, 0]);
    assert_eq!(summarize_response(&r), vec!["Cell PutChanges → ok".to_string()]);
    assert_eq!(encode_response(&r), b, "re-encodes byte for byte");
}

#[test]
fn fsshttpd_3_1_1_prefix_reports_where_it_ends() {
    let Some(dir) = external_dir() else { return };
    let b = std::fs::read(dir.join("ms-openspecs/ms-fsshttpd-3.1.1-put-changes-request-header.bin"))
        .expect("read");
    assert_eq!(b.len(), 85);
    let r = decode_request(&b);
    assert_eq!(r.protocol_version, 12);
    let ua = r.user_agent.as_ref().expect("user agent");
    assert_eq!(ua.guid.map(|g| g.to_string()).as_deref(), Some("{E731B87E-DD45-44AA-AB80-0C75FBD1530E}"));
    assert_eq!(ua.version, Some(0x2EE0_A395));
    assert_eq!(r.sub_requests.len(), 1);
    let s = &r.sub_requests[0];
    assert_eq!((s.request_id, s.request_type, s.priority), (1, 5, 0));
    let SubRequestData::PutChanges(p) = &s.data else { panic!("expected PutChanges") };
    assert_eq!(p.storage_index_id.value, 1);
    assert_eq!(p.storage_index_id.guid.to_string(), "{1EBFDDF8-64FA-4EE7-A5DB-61447E8A8CC1}");
    assert!(p.expected_storage_index_id.is_null());
    assert_eq!(p.flags, 0x48);
    let pkg = r.data_element_package.as_ref().expect("package start");
    assert_eq!(pkg.offset, 82);
    assert!(pkg.elements.is_empty());
    assert_eq!(r.diagnostics.len(), 1, "{:?}", r.diagnostics);
    assert_eq!(r.diagnostics[0].offset, 85);
    assert_eq!(
        r.diagnostics[0].message,
        "expected a data element or the end of the DataElementPackage (0x15) (1 byte) but the data ends at byte 85"
    );
}

#[test]
fn external_packaged_files_decode_cleanly() {
    let Some(dir) = external_dir() else { return };
    let files = packaged_files(&dir);
    assert_eq!(files.len(), 17, "{files:?}");
    for f in &files {
        let b = std::fs::read(f).expect("read");
        assert_eq!(sniff(&b), Some(Kind::Packaging), "{}", f.display());
        let p = decode_packaging(&b).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(p.diagnostics, vec![], "{}", f.display());
        assert_eq!(p.unknown, vec![], "{}", f.display());
        assert!(!p.data_element_package.elements.is_empty());
        // Every byte is accounted for: the package ends 2 bytes (the 0x7A end) before EOF.
        assert_eq!(
            p.data_element_package.end as u64 + 2 + p.zero_padding,
            b.len() as u64,
            "{}",
            f.display()
        );
    }
}

#[test]
fn revision_store_file_is_refused_clearly() {
    let Some(dir) = external_dir() else { return };
    let b = std::fs::read(dir.join("onenote.rs/non-legacy/Open Notebook.onetoc2")).expect("read");
    assert_eq!(sniff(&b), Some(Kind::RevisionStore));
    let e = decode_packaging(&b).expect_err("refused");
    assert!(matches!(e, PackagingRefusal::RevisionStore { .. }));
    assert_eq!(
        e.to_string(),
        "this OneNote file uses the desktop revision-store format (MS-ONESTORE 2.3), not the MS-FSSHTTPB alternative packaging, so it holds no data element package to decode"
    );
    assert!(matches!(
        decode_packaging(&b[..10]),
        Err(PackagingRefusal::NotPackaging { .. })
    ));
}

/// Every `ExGuid {{GUID}, n}` printed in onenote_parser's debug dump.
fn oracle_ids(dump: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut rest = dump;
    while let Some(i) = rest.find("ExGuid {{") {
        rest = &rest[i + "ExGuid {".len()..];
        if let Some(j) = rest.find('}') {
            let guid = &rest[..=j];
            let after = &rest[j + 1..];
            let num: String = after
                .trim_start_matches(", ")
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if guid != "{00000000-0000-0000-0000-000000000000}" {
                out.insert(format!("{guid},{num}"));
            }
        }
    }
    out
}

/// Every Extended GUID this decoder saw in a package: data element ids, mappings, roots,
/// object declarations and references.
fn decoded_ids(p: &DataElementPackage) -> std::collections::BTreeSet<String> {
    let mut s = std::collections::BTreeSet::new();
    let mut add = |e: &ExGuid| {
        if !e.is_null() {
            s.insert(e.to_string());
        }
    };
    for e in &p.elements {
        add(&e.id);
        match &e.body {
            DataElementBody::StorageIndex(en) => {
                for x in en {
                    match x {
                        StorageIndexEntry::ManifestMapping { id, .. } => add(id),
                        StorageIndexEntry::CellMapping { cell_id, id, .. } => {
                            add(&cell_id.ex1);
                            add(&cell_id.ex2);
                            add(id)
                        }
                        StorageIndexEntry::RevisionMapping { revision_id, id, .. } => {
                            add(revision_id);
                            add(id)
                        }
                    }
                }
            }
            DataElementBody::StorageManifest(m) => {
                for (r, c) in &m.roots {
                    add(r);
                    add(&c.ex1);
                    add(&c.ex2);
                }
            }
            DataElementBody::CellManifest(r) => add(r),
            DataElementBody::RevisionManifest(m) => {
                add(&m.revision_id);
                add(&m.base_revision_id);
                for (r, o) in &m.roots {
                    add(r);
                    add(o);
                }
                m.object_groups.iter().for_each(&mut add);
            }
            DataElementBody::ObjectGroup(g) => {
                for d in &g.declarations {
                    add(&d.id());
                    if let ObjectDeclaration::Blob { blob_id, .. } = d {
                        add(blob_id);
                    }
                }
                for d in &g.data {
                    let (ObjectData::Data { object_refs, cell_refs, .. }
                    | ObjectData::ExcludedData { object_refs, cell_refs, .. }
                    | ObjectData::BlobReference { object_refs, cell_refs, .. }) = d;
                    object_refs.iter().for_each(&mut add);
                    for c in cell_refs {
                        add(&c.ex1);
                        add(&c.ex2);
                    }
                    if let ObjectData::BlobReference { blob_id, .. } = d {
                        add(blob_id);
                    }
                }
            }
            DataElementBody::DataElementFragment(f) => add(&f.id),
            _ => {}
        }
    }
    s
}

#[test]
fn external_files_agree_with_onenote_parser() {
    let Some(dir) = external_dir() else { return };
    let mut compared = 0;
    for f in packaged_files(&dir) {
        let b = std::fs::read(&f).expect("read");
        let Ok(dump) = onenote_parser::Parser::new().dump_onestore(&b) else {
            panic!("onenote_parser failed on {}", f.display())
        };
        let theirs = oracle_ids(&dump);
        let p = decode_packaging(&b).expect("packaging");
        let ours = decoded_ids(&p.data_element_package);
        let missing: Vec<_> = theirs.difference(&ours).collect();
        assert!(
            missing.is_empty(),
            "{}: {} ids known to onenote_parser not found here, e.g. {:?}",
            f.display(),
            missing.len(),
            missing.iter().take(3).collect::<Vec<_>>()
        );
        assert!(theirs.len() > 10, "{}: oracle gave {} ids", f.display(), theirs.len());
        compared += theirs.len();
        eprintln!("{}: {} oracle ids, {} decoded ids", f.display(), theirs.len(), ours.len());
    }
    eprintln!("compared {compared} ids");
}
