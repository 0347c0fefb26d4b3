//! Reading on Node's own event loop: a libuv poll handle on the socket runs
//! `Connection::read` when the socket is readable and hands the frames to JS in the same turn
//! of the loop. A reader thread would add a second thread wake-up to every round trip
//! (bench/README.md: "Reading on Node's loop").
//!
//! Everything here runs on the JS thread. The poll handle's memory and its `Watch` live until
//! libuv's close callback, so a callback that closes the connection from JS is safe.

use std::cell::Cell;
use std::ffi::c_void;
use std::os::raw::c_int;
use std::ptr::null_mut;
use std::rc::Rc;
use std::sync::Arc;

use napi::bindgen_prelude::*;

use super::delivery::{new_uint32_array, value_of, DeliveryArgs, LandingRefs};
use crate::transport::{Connection, Delivery, Landing, TransportError, LANDING_META_WORDS, SMALL_BATCH};

// libuv's stable v1 ABI, resolved from the node binary when the addon is loaded.
type PollCallback = unsafe extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
type CloseCallback = unsafe extern "C" fn(handle: *mut c_void);
extern "C" {
    fn uv_handle_size(handle_type: c_int) -> usize;
    fn uv_poll_init(event_loop: *mut sys::uv_loop_s, handle: *mut c_void, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut c_void, events: c_int, callback: PollCallback) -> c_int;
    fn uv_poll_stop(handle: *mut c_void) -> c_int;
    fn uv_close(handle: *mut c_void, callback: CloseCallback);
    fn uv_unref(handle: *mut c_void);
}
const UV_POLL: c_int = 8;
const UV_READABLE: c_int = 1;

/// What the handle's callbacks need; pointed to by the handle's first field (`data`).
struct Watch {
    env: sys::napi_env,
    callback: sys::napi_ref,
    async_context: sys::napi_async_context,
    connection: Arc<Connection>,
    state: Rc<State>,
    /// The handle's memory, freed in the close callback.
    memory: *mut [u64],
    /// Small batches land here: a Buffer and a Uint32Array that the references keep alive.
    landing: LandingRefs,
    landing_data: *mut u8,
    landing_meta: *mut u32,
}

struct State {
    /// Also true until the first `resume` starts the handle.
    paused: Cell<bool>,
    closing: Cell<bool>,
    /// Node is tearing the environment down: no more napi calls.
    env_gone: Cell<bool>,
}

/// The binding's handle on a watch. Dropping it stops the watch.
pub struct ReadWatch {
    handle: *mut c_void,
    state: Rc<State>,
    landing: LandingRefs,
}

impl ReadWatch {
    /// Starts watching `connection`'s socket; the function `callback` refers to gets each
    /// delivery (the watch owns that reference from here on). The handle does not keep the
    /// loop alive: the delivery ThreadsafeFunction's ref does, while requests are pending.
    pub fn start(env: &Env, callback: sys::napi_ref, connection: Arc<Connection>) -> Result<ReadWatch> {
        let env = env.raw();
        let prepared = unsafe { prepare(env) };
        let (event_loop, async_context, landing, landing_data, landing_meta) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                unsafe { sys::napi_delete_reference(env, callback) };
                return Err(e);
            }
        };
        unsafe {
            let memory = Box::into_raw(vec![0u64; uv_handle_size(UV_POLL).div_ceil(8)].into_boxed_slice());
            let handle = memory as *mut c_void;
            let state = Rc::new(State { paused: Cell::new(true), closing: Cell::new(false), env_gone: Cell::new(false) });
            let watch = Box::new(Watch {
                env,
                callback,
                async_context,
                connection,
                state: state.clone(),
                memory,
                landing,
                landing_data,
                landing_meta,
            });
            let fd = watch.connection.raw_fd();
            let status = uv_poll_init(event_loop, handle, fd);
            if status != 0 {
                free(Box::into_raw(watch));
                return Err(Error::new(Status::GenericFailure, format!("libuv refused to watch the socket ({})", uv_error(status))));
            }
            *(handle as *mut *mut Watch) = Box::into_raw(watch);
            uv_unref(handle);
            let watch = ReadWatch { handle, state, landing };
            // Dropping `watch` on failure closes the handle.
            check_status!(sys::napi_add_env_cleanup_hook(env, Some(on_env_teardown), handle))?;
            watch.resume()?;
            Ok(watch)
        }
    }

    /// Stops reading, so TCP pushes back on the server (push high-water mark).
    pub fn pause(&self) {
        if !self.state.closing.get() && !self.state.paused.replace(true) {
            unsafe { uv_poll_stop(self.handle) };
        }
    }

    /// Reads again. When libuv refuses, the connection ends with why (reads would stop in
    /// silence otherwise), and so does the error returned.
    pub fn resume(&self) -> Result<()> {
        if self.state.closing.get() || !self.state.paused.replace(false) {
            return Ok(());
        }
        let status = unsafe { uv_poll_start(self.handle, UV_READABLE, on_readable) };
        if status == 0 {
            return Ok(());
        }
        let why = format!("libuv refused to watch the socket ({})", uv_error(status));
        unsafe {
            (*watch_of(self.handle)).connection.fail(TransportError::Internal(why.clone()));
            close(self.handle);
        }
        Err(Error::new(Status::GenericFailure, why))
    }

    /// The Buffer small batches land in (JS tells a landed delivery by it).
    pub fn landing_data(&self, env: &Env) -> Result<sys::napi_value> {
        unsafe { value_of(env.raw(), self.landing.data) }
    }

    pub fn stop(&self) {
        // Once closing, the handle may already be freed.
        if !self.state.closing.get() {
            unsafe { close(self.handle) }
        }
    }
}

impl Drop for ReadWatch {
    fn drop(&mut self) {
        self.stop();
    }
}

unsafe fn watch_of(handle: *mut c_void) -> *mut Watch {
    *(handle as *mut *mut Watch)
}

unsafe extern "C" fn on_readable(handle: *mut c_void, status: c_int, _events: c_int) {
    let watch = &*watch_of(handle);
    // A panic must not unwind into libuv: it ends the connection instead.
    let delivery = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // The socket's own error (ECONNRESET, ...) comes from reading it; libuv's status for a
        // failed poll is only a fallback (it reported EBADF for a reset peer).
        // SAFETY: the references keep the landing's memory alive as long as the watch, and only
        // this thread touches it, never while JS reads the previous delivery.
        let mut landing = unsafe {
            Landing {
                data: std::slice::from_raw_parts_mut(watch.landing_data, SMALL_BATCH),
                meta: std::slice::from_raw_parts_mut(watch.landing_meta, LANDING_META_WORDS),
            }
        };
        let delivery = watch.connection.read(status < 0, Some(&mut landing));
        if status < 0 && !watch.connection.has_ended() {
            watch.connection.fail(TransportError::io(&std::io::Error::from_raw_os_error(-status)));
            return Delivery { batch: delivery.batch, closed: watch.connection.take_end() };
        }
        delivery
    }))
    .unwrap_or_else(|_| {
        watch.connection.fail(TransportError::Internal("panic while reading the socket".into()));
        Delivery { batch: None, closed: watch.connection.take_end() }
    });
    if !delivery.is_empty() {
        hand_over(watch, delivery);
    }
    if watch.connection.has_ended() {
        close(handle);
    }
}

/// Delivers to JS; what cannot get there must not vanish with what pending requests wait for.
unsafe fn hand_over(watch: &Watch, delivery: Delivery) {
    let closed = delivery.closed.clone();
    let Err(why) = call_js(watch, delivery) else { return };
    match closed {
        // The end went with the lost delivery: it is sent again, alone.
        Some(reason) => {
            let _ = call_js(watch, Delivery { batch: None, closed: Some(reason) });
        }
        // The frames are lost: the connection ends, and its end notice fails what is pending.
        None => watch.connection.fail(TransportError::Internal(format!("frames read could not be handed to JS: {why}"))),
    }
}

/// Calls the delivery callback as Node calls its own I/O callbacks: in a callback scope, so
/// promise reactions and nextTicks run before the loop goes on. An exception the callback
/// throws is Node's uncaught exception, as from any event callback; it is not a failed delivery.
unsafe fn call_js(watch: &Watch, delivery: Delivery) -> Result<()> {
    let env = watch.env;
    let mut scope = null_mut();
    check_status!(sys::napi_open_handle_scope(env, &mut scope))?;
    let called = (|| {
        let mut callback = null_mut();
        let mut receiver = null_mut();
        check_status!(sys::napi_get_reference_value(env, watch.callback, &mut callback))?;
        check_status!(sys::napi_get_global(env, &mut receiver))?;
        let args = DeliveryArgs::new(delivery, Some(watch.landing)).into_vec(env)?;
        let mut result = null_mut();
        let status = sys::napi_make_callback(env, watch.async_context, receiver, callback, args.len(), args.as_ptr(), &mut result);
        if status == sys::Status::napi_pending_exception {
            let mut error = null_mut();
            sys::napi_get_and_clear_last_exception(env, &mut error);
            sys::napi_fatal_exception(env, error);
            return Ok(());
        }
        check_status!(status)
    })();
    sys::napi_close_handle_scope(env, scope);
    called
}

/// libuv's name for an error status (EBADF, ...).
fn uv_error(status: c_int) -> String {
    std::io::Error::from_raw_os_error(-status).to_string()
}

/// What a watch needs from Node before its handle exists.
unsafe fn prepare(env: sys::napi_env) -> Result<(*mut sys::uv_loop_s, sys::napi_async_context, LandingRefs, *mut u8, *mut u32)> {
    let mut event_loop = null_mut();
    check_status!(sys::napi_get_uv_event_loop(env, &mut event_loop))?;
    let mut name = null_mut();
    check_status!(sys::napi_create_string_utf8(env, c"kharon:read".as_ptr(), 11, &mut name))?;
    let mut async_context = null_mut();
    check_status!(sys::napi_async_init(env, null_mut(), name, &mut async_context))?;
    let mut landing_data = null_mut();
    let mut data = null_mut();
    check_status!(sys::napi_create_buffer(env, SMALL_BATCH, &mut landing_data, &mut data))?;
    let (meta, landing_meta) = new_uint32_array(env, LANDING_META_WORDS)?;
    let landing = LandingRefs { data: strong_ref(env, data)?, meta: strong_ref(env, meta)? };
    Ok((event_loop, async_context, landing, landing_data.cast(), landing_meta))
}

unsafe fn strong_ref(env: sys::napi_env, value: sys::napi_value) -> Result<usize> {
    let mut reference = null_mut();
    check_status!(sys::napi_create_reference(env, value, 1, &mut reference))?;
    Ok(reference as usize)
}

unsafe fn close(handle: *mut c_void) {
    let watch = &*watch_of(handle);
    if watch.state.closing.replace(true) {
        return;
    }
    if !watch.state.env_gone.get() {
        sys::napi_remove_env_cleanup_hook(watch.env, Some(on_env_teardown), handle);
    }
    uv_close(handle, on_closed);
}

unsafe extern "C" fn on_env_teardown(handle: *mut c_void) {
    let watch = &*watch_of(handle);
    watch.state.env_gone.set(true);
    close(handle);
}

unsafe extern "C" fn on_closed(handle: *mut c_void) {
    free(watch_of(handle));
}

unsafe fn free(watch: *mut Watch) {
    let watch = Box::from_raw(watch);
    if !watch.state.env_gone.get() {
        sys::napi_delete_reference(watch.env, watch.callback);
        sys::napi_delete_reference(watch.env, watch.landing.data as sys::napi_ref);
        sys::napi_delete_reference(watch.env, watch.landing.meta as sys::napi_ref);
        sys::napi_async_destroy(watch.env, watch.async_context);
    }
    drop(Box::from_raw(watch.memory));
}
