//! Tests at limit+1 (and at the limit) of the decoders' resource limits, the ones listed
//! in the "Resource limits" table of ARCHITECTURE.md. Limits tested next to their
//! decoder are named there too (SPFileSync nesting, MS-FSSHTTPB nesting, namespaces in
//! scope, shared MIME parts).

use super::fsshttp;
use super::mtom;
use super::webdav;

fn has(d: &[super::Diagnostic], text: &str) -> bool {
    d.iter().any(|d| d.message.contains(text))
}

#[test]
fn mtom_parts() {
    let params = mtom::parse_content_type("multipart/related; boundary=b").unwrap_or_default();
    let body = |n: usize| {
        let mut b = String::new();
        for i in 0..n {
            b.push_str(&format!("--b\r\nContent-ID: <{i}>\r\n\r\nx\r\n"));
        }
        b.push_str("--b--\r\n");
        b
    };
    let at = mtom::split(body(mtom::MAX_PARTS).as_bytes(), &params);
    assert_eq!(at.parts.len(), mtom::MAX_PARTS);
    assert!(at.diagnostics.is_empty(), "{:?}", at.diagnostics.first());
    let over = body(mtom::MAX_PARTS + 1);
    let mp = mtom::split(over.as_bytes(), &params);
    assert_eq!(mp.parts.len(), mtom::MAX_PARTS);
    // The part limit, then the closing delimiter that was not reached.
    assert_eq!(mp.diagnostics.len(), 2, "{:?}", mp.diagnostics.first());
    assert_eq!(mp.diagnostics[0].offset, over.rfind("--b\r\n").unwrap_or(0));
    assert!(has(&mp.diagnostics, "more than 4096 multipart parts"));
}

#[test]
fn mtom_part_headers() {
    let params = mtom::parse_content_type("multipart/related; boundary=b").unwrap_or_default();
    let body = |n: usize| {
        let mut b = String::from("--b\r\n");
        for i in 0..n {
            b.push_str(&format!("X-H{i}: v\r\n"));
        }
        b.push_str("\r\nx\r\n--b--\r\n");
        b
    };
    let at = mtom::split(body(mtom::MAX_PART_HEADERS).as_bytes(), &params);
    assert!(at.diagnostics.is_empty(), "{:?}", at.diagnostics.first());
    let mp = mtom::split(body(mtom::MAX_PART_HEADERS + 1).as_bytes(), &params);
    assert_eq!(mp.diagnostics.len(), 1, "{:?}", mp.diagnostics.first());
    assert_eq!(mp.diagnostics[0].offset, 5);
    assert!(has(
        &mp.diagnostics,
        "malformed headers in multipart part 0"
    ));
    // The part is still found, from the first blank line.
    assert_eq!(mp.parts.len(), 1);
}

fn soap_diags(body: &str) -> Vec<super::Diagnostic> {
    fsshttp::decode_request(Some("text/xml"), body.as_bytes()).diagnostics
}

/// The SOAP request `make(limit)` has no diagnostic mentioning `quiet`; `make(limit + 1)`
/// has one saying `message`: that request and the diagnostic's offset.
fn soap_over(
    make: impl Fn(usize) -> String,
    limit: usize,
    quiet: &str,
    message: &str,
) -> (String, Option<usize>) {
    assert!(!has(&soap_diags(&make(limit)), quiet));
    let body = make(limit + 1);
    let d = soap_diags(&body);
    let at = d
        .iter()
        .find(|d| d.message.contains(message))
        .map(|d| d.offset);
    (body, at)
}

#[test]
fn soap_nesting_depth() {
    let nested = |n: usize| format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
    let limit = fsshttp::MAX_DEPTH;
    let (_, at) = soap_over(nested, limit, "nested deeper", "nested deeper than 64");
    assert_eq!(at, Some(3 * limit));
}

#[test]
fn soap_element_count() {
    let many = |n: usize| format!("<r>{}</r>", "<a/>".repeat(n - 1));
    let limit = fsshttp::MAX_ELEMENTS;
    let (_, at) = soap_over(many, limit, "xml elements", "more than 200000 xml elements");
    assert_eq!(at, Some(3 + 4 * (limit - 1)));
}

/// An empty element `x` with `n` attributes, the `i`th written by `attr(i)`.
fn element_x(n: usize, attr: impl Fn(usize) -> String) -> String {
    let a: String = (0..n).map(attr).collect();
    format!("<x{a}/>")
}

#[test]
fn soap_attribute_count() {
    let attrs = |n: usize| element_x(n, |i| format!(" a{i}=\"\""));
    let limit = fsshttp::MAX_ATTRIBUTES;
    let (body, at) = soap_over(
        attrs,
        limit,
        "attributes on",
        "more than 128 attributes on x",
    );
    assert_eq!(at, body.rfind(" a").map(|i| i + 1));
}

#[test]
fn soap_namespace_bindings() {
    let decls = |n: usize| element_x(n, |i| format!(" xmlns:p{i}=\"urn:{i}\""));
    assert!(!has(
        &soap_diags(&decls(fsshttp::MAX_BINDINGS)),
        "malformed xml"
    ));
    let d = soap_diags(&decls(fsshttp::MAX_BINDINGS + 1));
    assert!(has(&d, "malformed xml"), "{:?}", d.first());
}

#[test]
fn dav_and_web3s_node_count() {
    let nodes = |n: usize| format!("<a>{}</a>", "<b/>".repeat(n));
    // The document node, <a> and the <b/>s.
    let (_, d) = webdav::decode_body(nodes(webdav::MAX_XML_NODES - 2).as_bytes());
    assert!(d.is_empty(), "{:?}", d.first());
    let (_, d) = webdav::decode_body(nodes(webdav::MAX_XML_NODES - 1).as_bytes());
    assert_eq!(d.len(), 1, "{:?}", d.first());
    assert!(has(&d, "nodes limit"), "{:?}", d.first());
}
