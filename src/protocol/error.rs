//! Error codes: their Tarantool names and the status that carries one. Error response bodies
//! are decoded in JS (lib/errors.js), the one decoder for every error the server reports.

use super::errcodes::NAMES;
use super::keys::response;

/// The Tarantool name of an error code (`ER_NO_SUCH_PROC` for 33), or `ER_UNKNOWN_<n>`.
pub fn code_name(errcode: u32) -> String {
    match NAMES.get(errcode as usize).copied().flatten() {
        Some(name) => name.to_owned(),
        None => format!("ER_UNKNOWN_{errcode}"),
    }
}

/// The error code carried in a response status (`0x8000 | code`), if it is an error.
pub fn errcode_of_status(status: u32) -> Option<u32> {
    (status & response::ERROR_FLAG != 0).then_some(status & !response::ERROR_FLAG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_and_unknown_codes() {
        assert_eq!(code_name(33), "ER_NO_SUCH_PROC");
        assert_eq!(code_name(0), "ER_UNKNOWN");
        assert_eq!(code_name(9999), "ER_UNKNOWN_9999");
        assert_eq!(errcode_of_status(0x8021), Some(33));
        assert_eq!(errcode_of_status(0x80), None);
    }
}
