#!/usr/bin/env python3
"""Writes the MS-FSSHTTP fixtures of this folder (see README.md).

Each fixture is `<name>.request` or `<name>.response`: HTTP-style header lines
(at least Content-Type), a blank line (CRLF CRLF), then the exact HTTP body.
Messages are written from the rules in REFERENCE.md Part A, not copied from spec pages.
Run from this folder: python3 make_fixtures.py
"""
import base64

S = "http://schemas.xmlsoap.org/soap/envelope/"
T = "http://schemas.microsoft.com/sharepoint/soap/"
X = "http://www.w3.org/2004/08/xop/include"
SCHEMA = "29358EC1-E813-4793-8E70-ED0344E7B73C"
CLIENT = "{7a1f5c3e-0d44-4b8a-9f51-3c2e6b0d9a11}"
CORR = "{c0ffee00-1234-4abc-8def-0123456789ab}"
URL = "https://contoso.example/sites/team/Shared Documents/Plan.docx"

# Synthetic FSSHTTPB-looking bytes (request/response signature prefix, not decoded here).
CELL_REQ = bytes([0x0C, 0x00, 0x0B, 0x00, 0x9C, 0x53, 0x68, 0x00]) + bytes(range(24))
CELL_RESP = bytes([0x0E, 0x00, 0x0B, 0x00, 0x00, 0x00, 0x9C, 0x53]) + bytes(range(40, 80))
UPLOAD_A = bytes([0x0C, 0x00, 0x0B, 0x00]) + b"\x00\x01\x02\r\n--not-a-boundary\r\n" + bytes(range(200, 256))
UPLOAD_B = bytes(range(256)) * 3


def b64(b):
    return base64.b64encode(b).decode()


def env(body):
    return f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{S}"><s:Body>{body}</s:Body></s:Envelope>'


def req(minor, requests, corr=CORR):
    return env(f'<RequestVersion Version="2" MinorVersion="{minor}" xmlns="{T}"/>'
               f'<RequestCollection CorrelationId="{corr}" xmlns="{T}">{requests}</RequestCollection>')


def resp(responses, minor=2, web="https://contoso.example/sites/team"):
    return env(f'<ResponseVersion Version="2" MinorVersion="{minor}" xmlns="{T}"/>'
               f'<ResponseCollection WebUrl="{web}" xmlns="{T}">{responses}</ResponseCollection>')


def request_el(token, subs, extra=""):
    return f'<Request Url="{URL}" RequestToken="{token}"{extra}>{subs}</Request>'


def response_el(token, subs, extra=""):
    return f'<Response Url="{URL}" RequestToken="{token}" HealthScore="0"{extra}>{subs}</Response>'


def sr(kind, token, data=None, extra=""):
    if data is None:
        return f'<SubRequest Type="{kind}" SubRequestToken="{token}"{extra}/>'
    return f'<SubRequest Type="{kind}" SubRequestToken="{token}"{extra}>{data}</SubRequest>'


def sresp(token, code="Success", hr="0", data="", extra=""):
    return f'<SubResponse SubRequestToken="{token}" ErrorCode="{code}" HResult="{hr}"{extra}>{data}</SubResponse>'


def mtom(root_xml, parts, boundary, quoted=True, start=True, ids=None):
    """parts: list of (content_id, bytes). Returns (content_type, body)."""
    b = f'"{boundary}"' if quoted else boundary
    ct = 'multipart/related; type="application/xop+xml"'
    if start:
        ct += '; start="<http://tempuri.org/0>"'
    ct += f'; start-info="text/xml"; boundary={b}'
    out = (f"--{boundary}\r\nContent-ID: <http://tempuri.org/0>\r\nContent-Transfer-Encoding: 8bit\r\n"
           f"Content-Type: application/xop+xml;charset=utf-8;type=\"text/xml\"\r\n\r\n").encode() + root_xml.encode()
    for cid, data in parts:
        out += (f"\r\n--{boundary}\r\nContent-ID: <{cid}>\r\nContent-Transfer-Encoding: binary\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data
    out += f"\r\n--{boundary}--\r\n".encode()
    return ct, out


def pct(s):
    from urllib.parse import quote
    return quote(s, safe="")


def write(name, ct, body, extra_headers=()):
    if isinstance(body, str):
        body = body.encode()
    head = f"Content-Type: {ct}\r\n" + "".join(f"{h}\r\n" for h in extra_headers) + "\r\n"
    with open(name, "wb") as f:
        f.write(head.encode() + body)


XML = "text/xml; charset=utf-8"

# 1. Coauth join + Cell download; response MTOM with one XOP part (percent-encoded cid, quoted boundary).
write("coauth_join.request", XML, req(2, request_el(1,
    sr("Coauth", 1, f'<SubRequestData CoauthRequestType="JoinCoauthoring" ClientID="{CLIENT}" SchemaLockID="{SCHEMA}" Timeout="3600" AllowFallbackToExclusive="true" ExclusiveLockID="{{e1e1e1e1-0000-4000-8000-000000000001}}"/>')
    + sr("Cell", 2, f'<SubRequestData BinaryDataSize="{len(CELL_REQ)}" GetFileProps="true" PartitionID="00000000-0000-0000-0000-000000000000">{b64(CELL_REQ)}</SubRequestData>',
         ' DependsOn="1" DependencyType="OnExecute"'),
    ' UserAgent="{1984c6fd-6b54-4a1d-9c07-2f0a9a6b7c11}" UserAgentClient="msword" UserAgentPlatform="win" Build="16.0.17928.20114" MetaData="1031" Interval="0"')))
cid = "http://tempuri.org/1/638000000000000001"
ct, body = mtom(resp(response_el(1,
    sresp(1, data='<SubResponseData LockType="SchemaLock" CoauthStatus="Alone" TransitionID="{0f0e0d0c-0b0a-4908-8706-050403020100}"/>')
    + sresp(2, data=f'<SubResponseData Etag="&quot;{{4A0C6E21-7B1D-4C57-A3C9-2E5F0B9D8A61}},3&quot;" CreateTime="133500000000000000" LastModifiedTime="133600000000000000" ModifiedBy="Alex Wilber" ContainsHotboxData="False" HaveOnlyDemotionChanges="False"><xop:Include href="cid:{pct(cid)}" xmlns:xop="{X}"/></SubResponseData>'),
    ' UrlIsEncoded="False"')), [(cid, CELL_RESP)], "uuid:2d0b1c3a-5e4f-4a6b-8c7d-9e0f1a2b3c4d+id=7")
write("coauth_join.response", ct, body)

# 2. Exclusive lock held by someone else; Cell download still runs (OnExecute).
write("exclusive_lock_conflict.request", XML, req(0, request_el(1,
    sr("ExclusiveLock", 1, '<SubRequestData ExclusiveLockRequestType="GetLock" ExclusiveLockID="{5b8e2f10-3c4d-4e5f-8a9b-0c1d2e3f4a5b}" Timeout="3600"/>')
    + sr("Cell", 2, f'<SubRequestData BinaryDataSize="{len(CELL_REQ)}">{b64(CELL_REQ)}</SubRequestData>', ' DependsOn="1" DependencyType="OnExecute"'))))
write("exclusive_lock_conflict.response", XML, resp(response_el(1,
    sresp(1, "FileAlreadyLockedOnServer", "2147500037", extra=' ErrorMessage="CONTOSO\\megan"')
    + sresp(2, data=f'<SubResponseData Etag="&quot;{{4A0C6E21-7B1D-4C57-A3C9-2E5F0B9D8A61}},3&quot;">{b64(CELL_RESP)}</SubResponseData>'))))

# 3. SchemaLock GetLock falls back to an exclusive lock; LockType written as a digit.
write("schema_lock_fallback.request", XML, req(2, request_el(1,
    sr("SchemaLock", 1, f'<SubRequestData SchemaLockRequestType="GetLock" ClientID="{CLIENT}" SchemaLockID="{SCHEMA}" Timeout="3600" AllowFallbackToExclusive="True" ExclusiveLockID="{{aa000000-0000-4000-8000-0000000000aa}}"/>')
    + sr("SchemaLock", 2, f'<SubRequestData SchemaLockRequestType="ConvertToExclusive" ClientID="{CLIENT}" SchemaLockID="{SCHEMA}" Timeout="3600" ExclusiveLockID="{{aa000000-0000-4000-8000-0000000000aa}}" ReleaseLockOnConversionToExclusiveFailure="false"/>'))))
write("schema_lock_fallback.response", XML, resp(response_el(1,
    sresp(1, data='<SubResponseData LockType="2" ExclusiveLockReturnReason="CoauthoringDisabled"/>')
    + sresp(2, "MultipleClientsInCoauthSession", "2147500037", data="<SubResponseData/>"))))

# 4. Identity, clock, lock status, AmIAlone.
write("whoami_servertime.request", XML, req(3, request_el(1,
    sr("WhoAmI", 1) + sr("ServerTime", 2) + sr("LockStatus", 3)
    + sr("AmIAlone", 4, '<SubRequestData TransitionID="{0f0e0d0c-0b0a-4908-8706-050403020100}"/>'))))
write("whoami_servertime.response", XML, resp(response_el(1,
    sresp(1, extra=' ServerCorrelationId="c0ffee00-1234-4abc-8def-0123456789ab"', data='<SubResponseData UserName="Megan Bowen" UserEmailAddress="megan@contoso.example" UserSIPAddress="sip:megan@contoso.example" UserIsAnonymous="False" UserLogin="i:0#.w|contoso\\megan"/>')
    + sresp(2, data='<SubResponseData ServerTime="638000000000000000"/>')
    + sresp(3, data='<SubResponseData LockType="ExclusiveLock" LockID="{5b8e2f10-3c4d-4e5f-8a9b-0c1d2e3f4a5b}" LockedBy="CONTOSO\\megan"/>')
    + sresp(4, data='<SubResponseData AmIAlone="True"/>'))))

# 5. Editors table: join, update metadata (value as base64 text), quota error.
write("editors_table.request", XML, req(2, request_el(1,
    sr("EditorsTable", 1, f'<SubRequestData EditorsTableRequestType="JoinEditingSession" ClientID="{CLIENT}" Timeout="3600" AsEditor="true"/>')
    + sr("EditorsTable", 2, f'<SubRequestData EditorsTableRequestType="UpdateEditorMetadata" ClientID="{CLIENT}" Key="cursor">{b64(b"page=3")}</SubRequestData>')
    + sr("EditorsTable", 3, f'<SubRequestData EditorsTableRequestType="RemoveEditorMetadata" ClientID="{CLIENT}" Key="color"/>'))))
write("editors_table.response", XML, resp(response_el(1,
    sresp(1, data="<SubResponseData/>")
    + sresp(2, "EditorMetadataQuotaReached", "-2147467259")
    + sresp(3, "EditorClientIdNotFound", "0x80004005"))))

# 6. Document metadata and version history (MS-VERSS results).
write("docmeta_getversions.request", XML, req(2, request_el(1, sr("GetDocMetaInfo", 1) + sr("GetVersions", 2))))
write("docmeta_getversions.response", XML, resp(response_el(1,
    sresp(1, data='<SubResponseData><DocProps><Property Key="vti_timecreated" Value="2024-01-05T10:00:00Z"/><Property Key="vti_author" Value="CONTOSO\\megan"/></DocProps><FolderProps><Property Key="vti_listid" Value="{1b2c3d4e-0000-4000-8000-000000000001}"/></FolderProps></SubResponseData>')
    + sresp(2, extra="", data='<GetVersionsResponse xmlns="http://schemas.microsoft.com/sharepoint/soap/"><GetVersionsResult><results><list id="{1b2c3d4e-0000-4000-8000-000000000001}"/><versioning enabled="1"/><settings url="https://contoso.example/sites/team/_layouts/15/LstSetng.aspx"/><result version="@2.0" url="https://contoso.example/sites/team/Shared Documents/Plan.docx" created="1/6/2024 9:00 AM" createdRaw="2024-01-06T09:00:00Z" createdBy="CONTOSO\\megan" createdByName="Megan Bowen" size="18234" comments=""/><result version="1.0" url="https://contoso.example/sites/team/_vti_history/512/Shared Documents/Plan.docx" created="1/5/2024 10:00 AM" createdRaw="2024-01-05T10:00:00Z" createdBy="CONTOSO\\alex" size="17001" comments="first"/></results></GetVersionsResult></GetVersionsResponse>'))))

# 7. SharePoint 2016+ operations: rename, versioning, properties.
write("file_versioning_properties.request", XML, req(3, request_el(1,
    sr("FileOperation", 1, '<SubRequestData FileOperation="Rename" NewFileName="Plan v2.docx" ExclusiveLockID="{5b8e2f10-3c4d-4e5f-8a9b-0c1d2e3f4a5b}"/>')
    + sr("Versioning", 2, '<SubRequestData VersioningRequestType="GetVersionList"/>')
    + sr("Versioning", 3, '<SubRequestData VersioningRequestType="RestoreVersion" Version="7.0"/>')
    + sr("Properties", 4, '<SubRequestData Properties="PropertyEnumerate"/>')
    + sr("Properties", 5, '<SubRequestData Properties="PropertyGet"><PropertyIds><PropertyId id="Title"/><PropertyId id="Owner"/></PropertyIds></SubRequestData>'),
    ' UseResourceID="true" ResourceID="5f2b7c3d-0000-4000-8000-00000000abcd" ShouldReturnDisambiguatedFileName="true"')))
write("file_versioning_properties.response", XML, resp(response_el(1,
    sresp(1, data="<SubResponseData/>")
    + sresp(2, data='<SubResponseData><UserTable><User UserId="1" UserLogin="i:0#.w|contoso\\megan" UserName="Megan Bowen" UserEmailAddress="megan@contoso.example"/><User UserId="2" UserLogin="i:0#.w|contoso\\alex"/></UserTable><Versions><Version IsCurrent="True" Number="2.0" LastModifiedTime="133600000000000000" UserId="1"><Events><Event Id="11" Type="2" CreateTime="133600000000000000" UserId="1"/></Events></Version><Version Number="1.0" LastModifiedTime="133500000000000000" UserId="2"/></Versions></SubResponseData>')
    + sresp(3, "VersionNotFound", "2147500037", extra=' ErrorMessage="Version 7.0 does not exist"')
    + sresp(4, data='<SubResponseData><PropertyIds><PropertyId id="Title"/><PropertyId id="Owner"/></PropertyIds></SubResponseData>')
    + sresp(5, data='<SubResponseData><PropertyValues><PropertyValue id="Title" value="Plan"/><PropertyValue id="Owner" value="Megan"/></PropertyValues></SubResponseData>'),
    ' ResourceID="5f2b7c3d-0000-4000-8000-00000000abcd" SuggestedFileName="Plan (2).docx"')))

# 8. Upload with two XOP parts: unquoted urn:uuid boundary, raw (not percent-encoded) cids,
#    parts in reverse order; the response is MTOM with no XOP part and a Cell failure.
root = req(2, request_el(1,
    sr("Cell", 1, f'<SubRequestData BinaryDataSize="{len(UPLOAD_A)}" Coalesce="true" CoauthVersioning="false" BypassLockID="{SCHEMA}" SchemaLockID="{SCHEMA}" Etag="&quot;{{4A0C6E21-7B1D-4C57-A3C9-2E5F0B9D8A61}},3&quot;" LastModifiedTime="133600000000000000"><xop:Include href="cid:part-a@synctap.example" xmlns:xop="{X}"/></SubRequestData>')
    + sr("Cell", 2, f'<SubRequestData BinaryDataSize="{len(UPLOAD_B)}" PartitionID="383adc0b-e66e-4438-95e6-e39ef9720122"><xop:Include href="cid:part-b@synctap.example" xmlns:xop="{X}"/></SubRequestData>')))
ct, body = mtom(root, [("part-b@synctap.example", UPLOAD_B), ("part-a@synctap.example", UPLOAD_A)],
                "urn:uuid:9a8b7c6d-5e4f-4321-9876-fedcba987654", quoted=False, start=False)
write("cell_upload_two_parts.request", ct, body)
ct, body = mtom(resp(response_el(1,
    sresp(1, data='<SubResponseData Etag="&quot;{4A0C6E21-7B1D-4C57-A3C9-2E5F0B9D8A61},4&quot;" CoalesceHResult="0"/>')
    + sresp(2, "CellRequestFail", "2147500037"))), [], "uuid:77777777-0000-4000-8000-000000000000+id=1")
write("cell_upload_two_parts.response", ct, body)

# 9. Dependency errors, unknown error code, hex/negative HResults, unknown attribute/element.
write("dependency_unknown.request", XML, req(2, request_el(1,
    sr("ExclusiveLock", 1, '<SubRequestData ExclusiveLockRequestType="ReleaseLock" ExclusiveLockID="{5b8e2f10-3c4d-4e5f-8a9b-0c1d2e3f4a5b}"/>')
    + sr("Coauth", 2, f'<SubRequestData CoauthRequestType="ExitCoauthoring" ClientID="{CLIENT}" SchemaLockID="{SCHEMA}"/>', ' DependsOn="1" DependencyType="OnSuccess"')
    + sr("Coauth", 3, f'<SubRequestData CoauthRequestType="GetCoauthoringStatus" ClientID="{CLIENT}" SchemaLockID="{SCHEMA}" FutureFlag="yes"/>', ' DependsOn="1" DependencyType="OnFail"'))))
write("dependency_unknown.response", XML, resp(response_el(1,
    sresp(1, "FileNotLockedOnServer", "0x80070005")
    + sresp(2, "DependentOnlyOnSuccessRequestFailed", "-2147024891")
    + sresp(3, "SomeFutureErrorCode", "1", data='<SubResponseData CoauthStatus="Coauthoring"><FutureElement level="2">hello</FutureElement></SubResponseData>'),
    ' IntendedUrl="https://contoso.example/sites/team/Plan.docx"')))

# 10. Whole-message error: no ResponseCollection.
write("version_error.response", XML, env(f'<ResponseVersion Version="2" MinorVersion="0" ErrorCode="IncompatibleVersion" ErrorMessage="Version 1 is not supported" xmlns="{T}"/>'))

# 11. SOAP Fault.
write("soap_fault.response", XML, env(f'<s:Fault><faultcode>s:Client</faultcode><faultstring xml:lang="en-US">Parsing of the request collection failed</faultstring><detail><ErrorString xmlns="{T}">Unexpected element</ErrorString><ErrorCode xmlns="{T}">0x80131600</ErrorCode></detail></s:Fault>'))

# 12. Malformed inputs.
write("malformed_broken_xml.request", XML, req(2, request_el(1, sr("WhoAmI", 1))).replace("</Request>", "</Requets>"))
ct, body = mtom(resp(response_el(1, sresp(1, data=f'<SubResponseData Etag="x"><xop:Include href="cid:{pct(cid)}" xmlns:xop="{X}"/></SubResponseData>'))),
                [(cid, CELL_RESP)], "uuid:2d0b1c3a-5e4f-4a6b-8c7d-9e0f1a2b3c4d+id=7")
write("malformed_truncated_mtom.response", ct, body[: len(body) - 30])
write("malformed_duplicate_attribute.response", XML, resp(f'<Response Url="" RequestToken="1" HealthScore="0" ErrorCode="InvalidUrl" ErrorCode="InvalidArgument" ErrorMessage="Url is empty"/>'))
write("malformed_missing_required.request", XML, req(2, request_el(1, '<SubRequest Type="ServerTime"/>' + sr("Cell", 2, "<SubRequestData>AAEC</SubRequestData>"))))
write("malformed_wrong_namespace.request", XML, req(2, request_el(1, sr("WhoAmI", 1))).replace(f'<RequestCollection CorrelationId="{CORR}" xmlns="{T}">', f'<RequestCollection CorrelationId="{CORR}" xmlns="http://schemas.microsoft.com/sharepoint/soap/2010/">'))
write("malformed_bad_values.response", XML, resp(response_el(1,
    sresp(1, "Success", "notanumber", data='<SubResponseData ServerTime="yesterday" AmIAlone="maybe"/>')
    + sresp(9, "Success", "0", data='<SubResponseData>AAECAwQF *AAA</SubResponseData>'))))
