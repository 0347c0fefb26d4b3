//! The read path for runtimes that have no libuv loop to watch the socket on (Bun, Deno; Node
//! too when asked with `readPath: 'tokio'`): a reader task on tokio reads the socket
//! (`transport::read_loop`) and the connection's ThreadsafeFunction, the one that brings its
//! end into JS on the libuv path, brings each read's frames too, one call per read, in the
//! same `(data, meta, closed, words)` shape. A small read is copied into the connection's
//! landing on the JS thread, right before the call (the reader cannot fill it: JS may still be
//! reading the last delivery in it), so steady traffic leaves JS no garbage, as on libuv's path.
//!
//! The ThreadsafeFunction's ref/unref is what keeps the process alive while requests are
//! pending, as on the libuv path: the reader task itself never does.

use std::ptr::null_mut;
use std::sync::{Arc, Mutex, Weak};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;

use super::delivery::{new_uint32_array, value_of, LandingRefs};
use super::DeliveryFn;
use crate::transport::{read_loop, Batch, Connection, Delivery, Inbox, Taken, LANDING_META_WORDS, SMALL_BATCH};

/// The binding's handle on the reader task. The task ends with the connection, which dropping
/// this ends (the task holds it open otherwise).
pub struct TokioReader {
    inbox: Arc<Inbox>,
    connection: Weak<Connection>,
    landing: Arc<LandingSlot>,
}

impl TokioReader {
    /// Starts reading `connection` on tokio; `deliver` (whose callback takes from `inbox`, see
    /// `next_delivery`) is called for every read.
    pub fn start(connection: Arc<Connection>, inbox: Arc<Inbox>, landing: Arc<LandingSlot>, deliver: Arc<DeliveryFn>) -> TokioReader {
        let wake = move || deliver.call((), ThreadsafeFunctionCallMode::NonBlocking) == Status::Ok;
        let weak = Arc::downgrade(&connection);
        napi::bindgen_prelude::spawn(read_loop(connection, inbox.clone(), wake));
        TokioReader { inbox, connection: weak, landing }
    }

    /// The Buffer small deliveries come in (null once released).
    pub fn landing_data(&self, env: &Env) -> Result<sys::napi_value> {
        self.landing.data(env.raw())
    }

    /// Lets go of the landing: later deliveries (which JS ignores) come in memory of their own.
    pub fn release(&self, env: &Env) {
        self.landing.release(env.raw());
    }

    /// Stops reading from the socket until `resume` (push backpressure). A read already done is
    /// parked until then.
    pub fn pause(&self) {
        self.inbox.pause();
    }

    /// Reads again. Returns whether a parked read waits for JS: the caller calls the
    /// ThreadsafeFunction for it (from here, JS would be called back inside its own call).
    pub fn resume(&self) -> bool {
        self.inbox.resume()
    }

    /// Whether frames read wait for JS (bytes the server sent, though not in the socket).
    pub fn holds_frames(&self) -> bool {
        self.inbox.holds_frames()
    }
}

impl Drop for TokioReader {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.upgrade() {
            connection.close();
        }
    }
}

/// The landing of a connection read on tokio: a Buffer and a Uint32Array of JS's, as on libuv's
/// path, that the JS thread copies small reads into right before the call.
pub struct LandingSlot {
    landing: Mutex<Option<JsLanding>>,
}

struct JsLanding {
    refs: LandingRefs,
    data: *mut u8,
    meta: *mut u32,
}

// SAFETY: the pointers are used on the JS thread only (in `land`, called from the
// ThreadsafeFunction's callback); the Mutex only lets the slot sit in that Send callback.
unsafe impl Send for JsLanding {}

impl LandingSlot {
    /// Makes the landing (on the JS thread).
    pub fn new(env: &Env) -> Result<LandingSlot> {
        let env = env.raw();
        unsafe {
            let mut data = null_mut();
            let mut buffer = null_mut();
            check_status!(sys::napi_create_buffer(env, SMALL_BATCH, &mut data, &mut buffer))?;
            let (meta_value, meta) = new_uint32_array(env, LANDING_META_WORDS)?;
            let data_ref = strong_ref(env, buffer)?;
            let meta_ref = match strong_ref(env, meta_value) {
                Ok(r) => r,
                Err(e) => {
                    sys::napi_delete_reference(env, data_ref as sys::napi_ref);
                    return Err(e);
                }
            };
            let refs = LandingRefs { data: data_ref, meta: meta_ref };
            Ok(LandingSlot { landing: Mutex::new(Some(JsLanding { refs, data: data.cast(), meta })) })
        }
    }

    /// On the JS thread, right before the call: a small batch is copied into the landing (JS is
    /// done with what the previous call left there, having copied what it keeps).
    pub fn land(&self, mut delivery: Delivery) -> (Delivery, Option<LandingRefs>) {
        let slot = self.landing.lock().unwrap();
        let Some(landing) = slot.as_ref() else { return (delivery, None) };
        if let Some(Batch::Owned { data, meta }) = &delivery.batch {
            if data.len() < SMALL_BATCH && meta.len() <= LANDING_META_WORDS {
                // SAFETY: the references keep the landing's memory alive until `release`, and
                // only this thread touches it.
                unsafe {
                    std::ptr::copy_nonoverlapping(data.as_ptr(), landing.data, data.len());
                    std::ptr::copy_nonoverlapping(meta.as_ptr(), landing.meta, meta.len());
                }
                delivery.batch = Some(Batch::Landed { words: meta.len() });
            }
        }
        (delivery, Some(landing.refs))
    }

    fn data(&self, env: sys::napi_env) -> Result<sys::napi_value> {
        match self.landing.lock().unwrap().as_ref() {
            Some(landing) => unsafe { value_of(env, landing.refs.data) },
            None => unsafe { <Null>::to_napi_value(env, Null) },
        }
    }

    /// Deletes the references (on the JS thread): JS's landing may go with the connection.
    pub fn release(&self, env: sys::napi_env) {
        if let Some(landing) = self.landing.lock().unwrap().take() {
            unsafe {
                sys::napi_delete_reference(env, landing.refs.data as sys::napi_ref);
                sys::napi_delete_reference(env, landing.refs.meta as sys::napi_ref);
            }
        }
    }
}

unsafe fn strong_ref(env: sys::napi_env, value: sys::napi_value) -> Result<usize> {
    let mut reference = null_mut();
    check_status!(sys::napi_create_reference(env, value, 1, &mut reference))?;
    Ok(reference as usize)
}

/// What one call of the ThreadsafeFunction brings JS on the tokio path: the next read, and the
/// connection's end once no frame read before it is left (`connection` is None once dropped).
pub fn next_delivery(inbox: &Inbox, connection: Option<Arc<Connection>>) -> Delivery {
    let ended = connection.as_ref().is_none_or(|c| c.has_ended());
    let Taken { delivery, end_may_follow } = inbox.take(ended);
    let mut delivery = delivery.unwrap_or(Delivery { batch: None, closed: None });
    if end_may_follow && delivery.closed.is_none() {
        delivery.closed = connection.and_then(|c| c.take_end());
    }
    delivery
}
