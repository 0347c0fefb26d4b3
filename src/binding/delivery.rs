//! How a delivery crosses into JS: one Buffer holding the frames' bytes, then (4-byte
//! aligned, native endian) META_WORDS u32 per frame: status, sync, schema version, body start,
//! body end. JS views the tail as a Uint32Array and slices bodies out of the head, so a whole
//! batch costs one Buffer, whatever the number of responses and pushes in it.

use napi::bindgen_prelude::*;

use super::errors::ErrorInfo;
use crate::transport::Delivery;

/// Below this, the batch is copied into a JS-owned Buffer: cheaper than an external buffer
/// with its finalizer, and it frees the read buffer at once.
const COPY_BELOW: usize = 64 * 1024;

pub struct DeliveryArgs {
    data: Option<Vec<u8>>,
    meta_offset: u32,
    closed: Option<ErrorInfo>,
}

impl From<Delivery> for DeliveryArgs {
    fn from(d: Delivery) -> Self {
        let (data, meta_offset) = match d.batch {
            Some(batch) => {
                let mut data = batch.data;
                data.resize(data.len().next_multiple_of(4), 0);
                let meta_offset = data.len() as u32;
                data.reserve(batch.meta.len() * 4);
                for word in batch.meta {
                    data.extend_from_slice(&word.to_ne_bytes());
                }
                (Some(data), meta_offset)
            }
            None => (None, 0),
        };
        DeliveryArgs { data, meta_offset, closed: d.closed.as_ref().map(ErrorInfo::from) }
    }
}

impl JsValuesTupleIntoVec for DeliveryArgs {
    fn into_vec(self, env: sys::napi_env) -> Result<Vec<sys::napi_value>> {
        let data = match self.data {
            None => unsafe { <()>::to_napi_value(env, ())? },
            Some(bytes) if bytes.len() < COPY_BELOW => unsafe {
                let mut value = std::ptr::null_mut();
                check_status!(sys::napi_create_buffer_copy(
                    env,
                    bytes.len(),
                    bytes.as_ptr().cast(),
                    std::ptr::null_mut(),
                    &mut value
                ))?;
                value
            },
            Some(bytes) => unsafe { Buffer::to_napi_value(env, Buffer::from(bytes))? },
        };
        Ok(vec![
            data,
            unsafe { u32::to_napi_value(env, self.meta_offset)? },
            unsafe { Option::<ErrorInfo>::to_napi_value(env, self.closed)? },
        ])
    }
}
