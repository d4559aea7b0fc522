//! MS-ONESTORE alternative packaging: a OneNote file that holds an MS-FSSHTTPB Data
//! Element Package ([MS-ONESTORE] 2.8.1), and the refusal of the older revision-store
//! format ([MS-ONESTORE] 2.3).
//!
//! Spec: <https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-onestore/a2f046ea-109a-49c4-912d-dc2888cf0565>
//!
//! Layout: guidFileType, guidFile, guidLegacyFileVersion, guidFileFormat (16 bytes each),
//! u32 reserved, 32-bit stream object start 0x7A, ExGUID storage index, GUID cell schema,
//! the Data Element Package, 16-bit end 0x7A.

use super::cursor::{Cursor, Fail, Trace};
use super::decode::{done, end, package, payload, start, Ctx};
use super::model::{DataElementPackage, ExGuid, Guid};
use super::names::{ALTERNATIVE_PACKAGING, PACKAGING_FORMAT_GUID};
use crate::decode::Diagnostic;
use serde::{Deserialize, Serialize};

/// .one section file type GUID {7B5C52E4-D88C-4DA7-AEB1-5378D02996D3}.
pub const ONE_FILE_TYPE: Guid = Guid::from_u128(0x7B5C52E4_D88C_4DA7_AEB1_5378D02996D3);
/// .onetoc2 table-of-contents file type GUID {43FF2FA1-EFD9-4C76-9EE2-10EA5722765F}.
pub const ONETOC2_FILE_TYPE: Guid = Guid::from_u128(0x43FF2FA1_EFD9_4C76_9EE2_10EA5722765F);

/// A OneNote file in alternative packaging, decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct PackagedFile {
    /// guidFileType (.one or .onetoc2).
    pub file_type: Guid,
    /// guidFile.
    pub file: Guid,
    /// guidLegacyFileVersion.
    pub legacy_file_version: Guid,
    /// guidFileFormat ({638DE92F-A6D4-4BC1-9A36-B3FC2511A5B7}).
    pub file_format: Guid,
    /// Reserved u32 after the header.
    pub reserved: u32,
    /// Storage Index Extended GUID.
    pub storage_index_id: ExGuid,
    /// Cell schema GUID.
    pub cell_schema: Guid,
    /// The Data Element Package.
    pub data_element_package: DataElementPackage,
    /// Count of zero bytes after the packaging end (files downloaded with their allocated
    /// size keep zero padding; any other trailing byte is a diagnostic).
    pub zero_padding: u64,
    /// Well-formed objects the spec does not name at their place.
    pub unknown: Vec<super::model::UnknownObject>,
    /// What could not be decoded (offsets into the file).
    pub diagnostics: Vec<Diagnostic>,
}

/// Why a file was not decoded as alternative packaging.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error, schemars::JsonSchema,
)]
#[non_exhaustive]
pub enum PackagingRefusal {
    /// The file is in the older desktop revision-store format ([MS-ONESTORE] 2.3).
    #[error("this OneNote file uses the desktop revision-store format (MS-ONESTORE 2.3), not the MS-FSSHTTPB alternative packaging, so it holds no data element package to decode")]
    RevisionStore {
        /// guidFileFormat found at byte 48.
        file_format: Guid,
    },
    /// The file is too short or its header names another format.
    #[error("not a OneNote alternative packaging file: {reason}")]
    NotPackaging {
        /// What was found.
        reason: String,
    },
}

/// Revision-store file format GUID {109ADD3F-911B-49F5-A5D0-1791EDC8AED8}.
pub(super) const REVISION_STORE_FORMAT: Guid =
    Guid::from_u128(0x109ADD3F_911B_49F5_A5D0_1791EDC8AED8);

/// The four header GUIDs, when the file has 64 bytes.
pub(crate) fn header_guids(file: &[u8]) -> Option<[Guid; 4]> {
    let mut c = Cursor::new(file);
    Some([
        c.guid("").ok()?,
        c.guid("").ok()?,
        c.guid("").ok()?,
        c.guid("").ok()?,
    ])
}

/// Decodes a file in alternative packaging; see [`super::decode_packaging`].
pub(crate) fn decode(file: &[u8], trace: Option<Trace>) -> Result<PackagedFile, PackagingRefusal> {
    let Some([file_type, guid_file, legacy, format]) = header_guids(file) else {
        return Err(PackagingRefusal::NotPackaging {
            reason: format!(
                "the file has {} bytes, fewer than the 64-byte header",
                file.len()
            ),
        });
    };
    if format != PACKAGING_FORMAT_GUID {
        if format == REVISION_STORE_FORMAT
            || file_type == ONE_FILE_TYPE
            || file_type == ONETOC2_FILE_TYPE
        {
            return Err(PackagingRefusal::RevisionStore {
                file_format: format,
            });
        }
        return Err(PackagingRefusal::NotPackaging {
            reason: format!("guidFileFormat is {format}, not {PACKAGING_FORMAT_GUID}"),
        });
    }
    let mut out = PackagedFile {
        file_type,
        file: guid_file,
        legacy_file_version: legacy,
        file_format: format,
        ..PackagedFile::default()
    };
    let mut c = match trace {
        Some(t) => Cursor::traced(file, t),
        None => Cursor::new(file),
    };
    // The header was checked above; read it again so that a trace lists it.
    for name in [
        "guidFileType",
        "guidFile",
        "guidLegacyFileVersion",
        "guidFileFormat",
    ] {
        if c.guid(name).is_err() {
            break;
        }
    }
    let mut ctx = Ctx::default();
    let r = (|| {
        out.reserved = c.u32("reserved")?;
        let h = start(&mut c, ALTERNATIVE_PACKAGING)?;
        let mut p = payload(&mut c, &h)?;
        out.storage_index_id = p.exguid("storage index extended guid")?;
        out.cell_schema = p.guid("cell schema guid")?;
        done(&p, ALTERNATIVE_PACKAGING)?;
        let r = package(&mut c, &mut ctx, &mut out.data_element_package);
        r?;
        end(&mut c, ALTERNATIVE_PACKAGING)?;
        let rest = c.rest("zero padding");
        if rest.iter().all(|b| *b == 0) {
            out.zero_padding = rest.len() as u64;
        } else {
            c.seek(c.pos() - rest.len());
            return Err(Fail::new(
                c.pos(),
                format!(
                    "{} unexpected non-zero bytes after the packaging end",
                    c.remaining()
                ),
            ));
        }
        Ok(())
    })();
    if let Err(e) = r {
        ctx.fail(e);
    }
    out.diagnostics = ctx.diags;
    out.unknown = ctx.unknown;
    Ok(out)
}
