//! How a delivery crosses into JS: one Buffer holding the frames' bytes, one Uint32Array of
//! META_WORDS words per frame (status, sync, schema version, body start, body end) and the
//! number of those words. JS slices bodies out of the Buffer, so a whole batch costs a few
//! values, whatever the number of responses and pushes in it. A small batch comes in the
//! connection's landing, the same Buffer and Uint32Array every time, so it allocates nothing
//! (bench/README.md: "Deliveries batched per read").

use std::ptr::null_mut;

use napi::bindgen_prelude::*;

use super::errors::ErrorInfo;
use crate::transport::{Batch, Delivery, SMALL_BATCH};

/// The connection's landing as JS references (numbers, so that the args can cross threads).
#[derive(Clone, Copy)]
pub struct LandingRefs {
    pub data: usize,
    pub meta: usize,
}

pub struct DeliveryArgs {
    batch: Option<Batch>,
    closed: Option<ErrorInfo>,
    landing: Option<LandingRefs>,
}

impl DeliveryArgs {
    pub fn new(d: Delivery, landing: Option<LandingRefs>) -> Self {
        DeliveryArgs { batch: d.batch, closed: d.closed.as_ref().map(ErrorInfo::from), landing }
    }
}

impl JsValuesTupleIntoVec for DeliveryArgs {
    fn into_vec(self, env: sys::napi_env) -> Result<Vec<sys::napi_value>> {
        let (data, meta, words) = match (self.batch, self.landing) {
            (None, _) => unsafe { (<()>::to_napi_value(env, ())?, <()>::to_napi_value(env, ())?, 0) },
            (Some(Batch::Owned { data, meta }), _) => {
                let buffer = if data.len() < SMALL_BATCH {
                    unsafe { buffer_copy(env, &data)? }
                } else {
                    unsafe { Buffer::to_napi_value(env, Buffer::from(data))? }
                };
                (buffer, unsafe { uint32_array(env, &meta)? }, meta.len())
            }
            (Some(Batch::Landed { words }), Some(refs)) => unsafe {
                (value_of(env, refs.data)?, value_of(env, refs.meta)?, words)
            },
            (Some(Batch::Landed { .. }), None) => {
                return Err(Error::new(Status::GenericFailure, "a batch landed on a connection without a landing"))
            }
        };
        let words = unsafe { u32::to_napi_value(env, words as u32)? };
        Ok(vec![data, meta, unsafe { Option::<ErrorInfo>::to_napi_value(env, self.closed)? }, words])
    }
}

/// The value a reference (held as a number) refers to.
pub unsafe fn value_of(env: sys::napi_env, reference: usize) -> Result<sys::napi_value> {
    let mut value = null_mut();
    check_status!(sys::napi_get_reference_value(env, reference as sys::napi_ref, &mut value))?;
    Ok(value)
}

/// A Buffer of JS's own holding a copy of `bytes`.
unsafe fn buffer_copy(env: sys::napi_env, bytes: &[u8]) -> Result<sys::napi_value> {
    let mut value = null_mut();
    check_status!(sys::napi_create_buffer_copy(env, bytes.len(), bytes.as_ptr().cast(), null_mut(), &mut value))?;
    Ok(value)
}

/// A Uint32Array of JS's own holding a copy of `words` (a copy costs less than handing the
/// memory over with a finalizer, and keeps it 4-byte aligned).
unsafe fn uint32_array(env: sys::napi_env, words: &[u32]) -> Result<sys::napi_value> {
    let (value, memory) = new_uint32_array(env, words.len())?;
    if !words.is_empty() {
        std::ptr::copy_nonoverlapping(words.as_ptr(), memory, words.len());
    }
    Ok(value)
}

/// A Uint32Array of `len` words and where its memory is.
pub unsafe fn new_uint32_array(env: sys::napi_env, len: usize) -> Result<(sys::napi_value, *mut u32)> {
    let mut memory = null_mut();
    let mut array_buffer = null_mut();
    check_status!(sys::napi_create_arraybuffer(env, len * 4, &mut memory, &mut array_buffer))?;
    let mut value = null_mut();
    check_status!(sys::napi_create_typedarray(env, sys::TypedarrayType::uint32_array, len, array_buffer, 0, &mut value))?;
    Ok((value, memory.cast()))
}
