//! The write crossing without napi-rs's method glue: `writeFrames(handle, frames)` is a plain
//! Node-API function and `handle` an External sharing the connection while it is open. A
//! `#[napi]` method registers and releases a borrow of `self` on every call, which a caller who
//! awaits each request would pay on every round trip (bench/README.md: "The write handle: a
//! plain Node-API call").

use std::ffi::{c_void, CStr};
use std::ptr::{null, null_mut};
use std::rc::Rc;

use napi::bindgen_prelude::*;

use super::{OpenConnection, OpenSlot};

/// Marks the Externals made here, so that `writeFrames` never reads another External as one.
const HANDLE_TAG: sys::napi_type_tag = sys::napi_type_tag {
    lower: 0x6b68_6172_6f6e_2d77,
    upper: 0x7269_7465_2d68_616e,
};

/// An External sharing `open`: it writes while the connection is open, and never keeps the
/// connection itself alive.
pub unsafe fn write_handle(env: sys::napi_env, open: &OpenConnection) -> Result<sys::napi_value> {
    let data = Rc::into_raw(Rc::clone(open)) as *mut c_void;
    let mut value = null_mut();
    let created =
        sys::napi_create_external(env, data, Some(release_handle), null_mut(), &mut value);
    if created != sys::Status::napi_ok {
        drop(Rc::from_raw(data as *const OpenSlot));
        return Err(Error::new(
            Status::from(created),
            "cannot create the write handle",
        ));
    }
    check_status!(sys::napi_type_tag_object(env, value, &HANDLE_TAG))?;
    Ok(value)
}

unsafe extern "C" fn release_handle(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    drop(Rc::from_raw(data as *const OpenSlot));
}

/// The `writeFrames` function.
pub unsafe fn function(env: sys::napi_env) -> Result<sys::napi_value> {
    let mut value = null_mut();
    let name = c"writeFrames";
    check_status!(sys::napi_create_function(
        env,
        name.as_ptr(),
        name.count_bytes() as isize,
        Some(write_frames),
        null_mut(),
        &mut value
    ))?;
    Ok(value)
}

/// `writeFrames(handle, frames)`: sends the frames (a Buffer) and returns the bytes still
/// waiting for the socket (one crossing, not a write and a `writeBacklog`), -1 once the
/// connection has ended.
unsafe extern "C" fn write_frames(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let mut argc = 2;
    let mut argv = [null_mut(); 2];
    if sys::napi_get_cb_info(
        env,
        info,
        &mut argc,
        argv.as_mut_ptr(),
        null_mut(),
        null_mut(),
    ) != sys::Status::napi_ok
    {
        return null_mut();
    }
    let Some(open) = open_of(env, argv[0]) else {
        return type_error(
            env,
            c"writeFrames: the first argument must be a connection's write handle",
        );
    };
    let mut data = null_mut();
    let mut len = 0;
    let mut is_buffer = false;
    if argc < 2
        || sys::napi_is_buffer(env, argv[1], &mut is_buffer) != sys::Status::napi_ok
        || !is_buffer
        || sys::napi_get_buffer_info(env, argv[1], &mut data, &mut len) != sys::Status::napi_ok
    {
        return type_error(env, c"writeFrames: frames must be a Buffer");
    }
    let frames: &[u8] = if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(data as *const u8, len)
    };
    // A panic must not unwind into Node.
    let backlog = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        match open.borrow().as_ref().and_then(|connection| connection.write(frames)) {
            Some(backlog) => backlog as f64,
            None => -1.0,
        }
    }));
    let mut result = null_mut();
    match backlog {
        Ok(backlog) => {
            sys::napi_create_double(env, backlog, &mut result);
            result
        }
        Err(_) => {
            sys::napi_throw_error(
                env,
                null(),
                c"internal error while writing to the socket".as_ptr(),
            );
            null_mut()
        }
    }
}

unsafe fn open_of<'a>(env: sys::napi_env, handle: sys::napi_value) -> Option<&'a OpenSlot> {
    let mut tagged = false;
    if handle.is_null()
        || sys::napi_check_object_type_tag(env, handle, &HANDLE_TAG, &mut tagged)
            != sys::Status::napi_ok
        || !tagged
    {
        return None;
    }
    let mut data = null_mut();
    if sys::napi_get_value_external(env, handle, &mut data) != sys::Status::napi_ok {
        return None;
    }
    // SAFETY: tagged handles are made only by write_handle, whose External owns a reference.
    Some(&*(data as *const OpenSlot))
}

unsafe fn type_error(env: sys::napi_env, message: &CStr) -> sys::napi_value {
    sys::napi_throw_type_error(env, null(), message.as_ptr());
    null_mut()
}
