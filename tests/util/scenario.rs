//! MS-FSSHTTP scenario building blocks shared by the timeline tests and the timeline and
//! FSSHTTP benches (which include this file with `#[path]`): version 2.2 envelopes for
//! one file, the cell storage POST that carries them, and common subrequests and
//! FSSHTTPB messages.

#![allow(dead_code)]

use synctap::decode::fsshttp::{
    encode_request, encode_response, CellPayload, CoauthRequestType, EncodeOptions, ErrorCode,
    HResult, PayloadOrigin, Request as FRequest, RequestCollection, RequestEnvelope,
    Response as FResponse, ResponseCollection, ResponseEnvelope, SubRequest, SubRequestData,
    SubRequestType, SubResponse, SubResponseData, VersionInfo,
};
use synctap::decode::fsshttpb::{
    self, FsshttpbRequest, FsshttpbResponse, QueryChangesRequest, RESPONSE_SIGNATURE,
};
use synctap::model::{Body, Headers, Request, Response};

/// The cell storage service of the test site.
pub const ENDPOINT: &str =
    "https://contoso.example/sites/team/_vti_bin/cellstorage.svc/CellStorageService";
/// The SOAPAction of a cell storage request.
pub const SOAP_ACTION: &str =
    "\"http://schemas.microsoft.com/sharepoint/soap/ICellStorages/ExecuteCellStorageRequest\"";
/// The SchemaLockID the clients share.
pub const SCHEMA: &str = "29358EC1-E813-4793-8E70-ED0344E7B73C";

/// `VersionInfo` 2.2.
fn version() -> Option<VersionInfo> {
    Some(VersionInfo {
        version: Some(2),
        minor_version: Some(2),
        ..VersionInfo::default()
    })
}

/// A version 2.2 request with one `Request` (RequestToken 1) for `url`.
pub fn request_envelope(
    url: &str,
    correlation_id: String,
    subs: Vec<SubRequest>,
) -> RequestEnvelope {
    RequestEnvelope {
        request_version: version(),
        request_collection: Some(RequestCollection {
            correlation_id: Some(correlation_id),
            requests: vec![FRequest {
                url: Some(url.to_owned()),
                request_token: Some(1),
                sub_requests: subs,
                ..FRequest::default()
            }],
        }),
        ..RequestEnvelope::default()
    }
}

/// A version 2.2 response of the test site with one `Response` (RequestToken 1, health
/// 0) for `url`.
pub fn response_envelope(url: &str, resps: Vec<SubResponse>) -> ResponseEnvelope {
    ResponseEnvelope {
        response_version: version(),
        response_collection: Some(ResponseCollection {
            web_url: Some("https://contoso.example/sites/team".to_owned()),
            responses: vec![FResponse {
                url: Some(url.to_owned()),
                request_token: Some(1),
                health_score: Some(0),
                sub_responses: resps,
                ..FResponse::default()
            }],
            ..ResponseCollection::default()
        }),
        ..ResponseEnvelope::default()
    }
}

/// The envelopes encoded with `opts` as a cell storage POST to [`ENDPOINT`] and its 200
/// answer.
pub fn cell_storage_post(
    req: &RequestEnvelope,
    resp: &ResponseEnvelope,
    opts: EncodeOptions,
) -> (Request, Response) {
    let (qct, qbody) = encode_request(req, opts);
    let (rct, rbody) = encode_response(resp, opts);
    (
        Request {
            method: "POST".to_owned(),
            url: ENDPOINT.to_owned(),
            headers: Headers(vec![
                ("Content-Type".to_owned(), qct),
                ("SOAPAction".to_owned(), SOAP_ACTION.to_owned()),
            ]),
            body: Body::complete(qbody),
        },
        Response {
            status: 200,
            reason: "OK".to_owned(),
            headers: Headers(vec![("Content-Type".to_owned(), rct)]),
            body: Body::complete(rbody),
        },
    )
}

/// A subrequest of `type_` from `client` asking for `timeout`, the rest of its data
/// (request type, lock ids) from `data`.
pub fn client_subrequest(
    type_: SubRequestType,
    client: &str,
    timeout: Option<i64>,
    data: SubRequestData,
) -> SubRequest {
    SubRequest {
        type_: Some(type_),
        sub_request_data: Some(SubRequestData {
            client_id: Some(client.to_owned()),
            timeout,
            ..data
        }),
        ..SubRequest::default()
    }
}

/// A Coauth subrequest of `client` with SchemaLockID `schema`.
pub fn coauth_schema(
    t: CoauthRequestType,
    client: &str,
    schema: &str,
    timeout: Option<i64>,
) -> SubRequest {
    let data = SubRequestData {
        coauth_request_type: Some(t),
        schema_lock_id: Some(schema.to_owned()),
        ..SubRequestData::default()
    };
    client_subrequest(SubRequestType::Coauth, client, timeout, data)
}

/// A Coauth subrequest of `client` with SchemaLockID [`SCHEMA`].
pub fn coauth(t: CoauthRequestType, client: &str, timeout: Option<i64>) -> SubRequest {
    coauth_schema(t, client, SCHEMA, timeout)
}

/// A Cell subrequest carrying `payload` inline, with SchemaLockID `schema` when given.
pub fn cell_subrequest(payload: bytes::Bytes, schema: Option<&str>) -> SubRequest {
    SubRequest {
        type_: Some(SubRequestType::Cell),
        sub_request_data: Some(SubRequestData {
            binary_data_size: Some(payload.len() as i64),
            schema_lock_id: schema.map(str::to_owned),
            payload: Some(CellPayload {
                bytes: payload,
                origin: PayloadOrigin::Inline,
            }),
            ..SubRequestData::default()
        }),
        ..SubRequest::default()
    }
}

/// A successful subresponse carrying `d`.
pub fn success(d: SubResponseData) -> SubResponse {
    SubResponse {
        error_code: Some(ErrorCode::from("Success")),
        h_result: Some(HResult::from_u32(0)),
        sub_response_data: Some(d),
        ..SubResponse::default()
    }
}

/// An FSSHTTPB request with one QueryChanges sub-request.
pub fn query_changes_request() -> FsshttpbRequest {
    let query = fsshttpb::SubRequest {
        request_id: 1,
        request_type: 2,
        data: fsshttpb::SubRequestData::QueryChanges(QueryChangesRequest::default()),
        ..fsshttpb::SubRequest::default()
    };
    FsshttpbRequest::v14(None, vec![query])
}

/// An FSSHTTPB response with one PutChanges sub-response, successful unless the
/// caller sets its status and error.
pub fn put_changes_response() -> FsshttpbResponse {
    FsshttpbResponse {
        protocol_version: 14,
        minimum_version: 11,
        signature: RESPONSE_SIGNATURE,
        sub_responses: vec![fsshttpb::SubResponse {
            request_id: 1,
            request_type: 5,
            data: fsshttpb::SubResponseData::PutChanges(fsshttpb::PutChangesResponse::default()),
            ..fsshttpb::SubResponse::default()
        }],
        ..FsshttpbResponse::default()
    }
}
