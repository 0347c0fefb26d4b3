//! How a delivery crosses into JS: one Buffer holding the frames' bytes and one Uint32Array of
//! META_WORDS words per frame: status, sync, schema version, body start, body end. JS slices
//! bodies out of the Buffer, so a whole batch costs two values, whatever the number of
//! responses and pushes in it.

use napi::bindgen_prelude::*;

use super::errors::ErrorInfo;
use crate::transport::{Delivery, SMALL_BATCH};

pub struct DeliveryArgs {
    data: Option<Vec<u8>>,
    meta: Vec<u32>,
    closed: Option<ErrorInfo>,
}

impl From<Delivery> for DeliveryArgs {
    fn from(d: Delivery) -> Self {
        let (data, meta) = match d.batch {
            Some(batch) => (Some(batch.data), batch.meta),
            None => (None, Vec::new()),
        };
        DeliveryArgs { data, meta, closed: d.closed.as_ref().map(ErrorInfo::from) }
    }
}

impl JsValuesTupleIntoVec for DeliveryArgs {
    fn into_vec(self, env: sys::napi_env) -> Result<Vec<sys::napi_value>> {
        let (data, meta) = match self.data {
            None => unsafe { (<()>::to_napi_value(env, ())?, <()>::to_napi_value(env, ())?) },
            Some(bytes) => {
                let data = if bytes.len() < SMALL_BATCH {
                    unsafe { buffer_copy(env, &bytes)? }
                } else {
                    unsafe { Buffer::to_napi_value(env, Buffer::from(bytes))? }
                };
                (data, unsafe { uint32_array(env, &self.meta)? })
            }
        };
        Ok(vec![data, meta, unsafe { Option::<ErrorInfo>::to_napi_value(env, self.closed)? }])
    }
}

/// A Buffer of JS's own holding a copy of `bytes`.
unsafe fn buffer_copy(env: sys::napi_env, bytes: &[u8]) -> Result<sys::napi_value> {
    let mut value = std::ptr::null_mut();
    check_status!(sys::napi_create_buffer_copy(env, bytes.len(), bytes.as_ptr().cast(), std::ptr::null_mut(), &mut value))?;
    Ok(value)
}

/// A Uint32Array of JS's own holding a copy of `words` (a copy costs less than handing the
/// memory over with a finalizer, and keeps it 4-byte aligned).
unsafe fn uint32_array(env: sys::napi_env, words: &[u32]) -> Result<sys::napi_value> {
    let mut memory = std::ptr::null_mut();
    let mut array_buffer = std::ptr::null_mut();
    check_status!(sys::napi_create_arraybuffer(env, words.len() * 4, &mut memory, &mut array_buffer))?;
    if !words.is_empty() {
        std::ptr::copy_nonoverlapping(words.as_ptr(), memory.cast::<u32>(), words.len());
    }
    let mut value = std::ptr::null_mut();
    check_status!(sys::napi_create_typedarray(env, sys::TypedarrayType::uint32_array, words.len(), array_buffer, 0, &mut value))?;
    Ok(value)
}
