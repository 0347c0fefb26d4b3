//! The napi binding: converts options and errors, watches each socket on Node's event loop
//! (`read_watch`), or, where the runtime has no libuv loop (Bun, Deno), has a task read it on
//! tokio (`tokio_reader`), takes writes through a plain Node-API function (`frame_writer`),
//! owns the ThreadsafeFunction that brings an end found on the tokio side into JS (and, on the
//! tokio read path, every read), and refs/unrefs it as the JS layer's pending count crosses 0
//! and 1.
#![cfg_attr(test, allow(dead_code))] // the napi registrations are not compiled into test builds

mod delivery;
mod errors;
mod frame_writer;
mod read_watch;
mod tokio_reader;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use crate::protocol::auth::Credentials;
use crate::protocol::error::code_name;
use crate::protocol::frame::MAX_FRAME_SIZE_LIMIT;
use crate::protocol::id::Protocol;
use crate::transport::{Address, ConnectOptions, Connection, Delivery, Inbox, TransportError};
use delivery::DeliveryArgs;
pub use errors::ErrorInfo;
use read_watch::ReadWatch;
use tokio_reader::TokioReader;

#[napi_derive::module_init]
fn init() {
    // One worker: it only connects and finishes backlogged writes (reads run on Node's loop),
    // and the machine's other cores are better left to Node's main thread and to the server.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("kharon-io")
        .build()
        .expect("tokio runtime");
    create_custom_tokio_runtime(rt);
}

#[napi(object)]
pub struct NativeConnectOptions {
    pub host: Option<String>,
    pub port: Option<u32>,
    pub path: Option<String>,
    /// Milliseconds.
    pub connect_timeout: Option<f64>,
    pub max_frame_size: Option<f64>,
    /// IPROTO_ID to offer a 2.10+ server: our protocol version and feature ids. Without
    /// `features`, no ID is sent.
    pub protocol_version: Option<u32>,
    pub features: Option<Vec<u32>>,
    /// Who reads the socket: 'uv', the JS thread when Node's libuv loop reports it readable
    /// (refused where the runtime has no such loop); 'tokio', a reader task handing each read
    /// to JS through a ThreadsafeFunction (Bun, Deno). Unset: 'uv' where there is a loop.
    #[napi(ts_type = "'uv' | 'tokio'")]
    pub read_path: Option<String>,
}

/// A user and what is kept of a password: its two SHA-1 digests, never the text. The client
/// holds one to authenticate again on reconnect without keeping the password.
#[napi]
pub struct NativeCredentials {
    credentials: Credentials,
}

#[napi]
impl NativeCredentials {
    #[napi(constructor, catch_unwind)]
    pub fn new(user: String, password: String) -> Self {
        NativeCredentials { credentials: Credentials::new(user, &password) }
    }

    #[napi(getter)]
    pub fn user(&self) -> String {
        self.credentials.user.clone()
    }
}

type DeliveryFn = ThreadsafeFunction<(), Unknown<'static>, DeliveryArgs, Status, false, true>;

/// Who reads the socket (see `NativeConnectOptions::read_path`).
enum Reader {
    Uv(ReadWatch),
    Tokio(TokioReader),
}

/// The connection while it is open, shared (on the JS thread) by its NativeConnection and write
/// handle. Emptied when it ends, so the socket closes then, not when GC collects either.
pub type OpenSlot = RefCell<Option<Arc<Connection>>>;
pub type OpenConnection = Rc<OpenSlot>;

/// A connected socket as the JS layer sees it.
#[napi]
pub struct NativeConnection {
    reader: Reader,
    open: OpenConnection,
    /// None once released: nothing in Rust then holds the JS delivery callback.
    ended: Option<Arc<DeliveryFn>>,
    referenced: bool,
    server_version: String,
    protocol: Protocol,
    /// Counted up to the release, for stats read after it.
    bytes_received: u64,
}

impl NativeConnection {
    fn connection(&self) -> Option<Arc<Connection>> {
        self.open.borrow().clone()
    }

    /// Frees what the connection holds: the socket (once the poll handle, or the reader task,
    /// and the writer task are done with it), the ThreadsafeFunction and its reference to the
    /// JS callback.
    fn release(&mut self, env: &Env) {
        match &self.reader {
            Reader::Uv(watch) => watch.stop(),
            Reader::Tokio(reader) => reader.release(env),
        }
        if let Some(connection) = self.open.borrow_mut().take() {
            self.bytes_received = connection.bytes_received();
            connection.close();
        }
        self.ended = None;
        self.referenced = false;
    }
}

#[napi]
impl NativeConnection {
    /// Makes a handle `writeFrames` sends request frames through (see frame_writer.rs): a
    /// method call per write costs more than a round trip can spare. Each call makes a new
    /// handle (an External sharing the connection), so JS makes one per connection and keeps it.
    #[napi(js_name = "createWriteHandle", catch_unwind, ts_return_type = "object")]
    pub fn create_write_handle(&self, env: &Env) -> Result<Unknown<'_>> {
        let value = unsafe { frame_writer::write_handle(env.raw(), &self.open)? };
        Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
    }

    /// Bytes written but not yet taken by the kernel.
    #[napi(getter)]
    pub fn write_backlog(&self) -> f64 {
        self.connection().map_or(0.0, |c| c.write_backlog() as f64)
    }

    /// Whether the server sent bytes not yet read: proof of life while reading is paused.
    #[napi(getter)]
    pub fn has_unread_bytes(&self) -> bool {
        let read_ahead = matches!(&self.reader, Reader::Tokio(reader) if reader.holds_frames());
        read_ahead || self.connection().is_some_and(|c| c.has_unread_bytes())
    }

    /// The Buffer small deliveries come in, the same every time: what JS keeps of it, it copies.
    #[napi(getter, ts_return_type = "Buffer")]
    pub fn landing(&self, env: &Env) -> Result<Unknown<'_>> {
        let value = match &self.reader {
            Reader::Uv(watch) => watch.landing_data(env)?,
            Reader::Tokio(reader) => reader.landing_data(env)?,
        };
        Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
    }

    /// Who reads the socket: 'uv' or 'tokio' (see NativeConnectOptions.readPath).
    #[napi(getter, ts_return_type = "'uv' | 'tokio'")]
    pub fn read_path(&self) -> &'static str {
        match self.reader {
            Reader::Uv(_) => "uv",
            Reader::Tokio(_) => "tokio",
        }
    }

    /// Bytes read from the socket after the handshake (stats; read after close too).
    #[napi(getter)]
    pub fn bytes_received(&self) -> f64 {
        self.connection().map_or(self.bytes_received, |c| c.bytes_received()) as f64
    }

    /// Keeps Node's event loop alive until `unref` (called when requests are pending).
    #[napi(js_name = "ref", catch_unwind)]
    pub fn keep_alive(&mut self, env: &Env) -> Result<()> {
        if let (false, Some(ended)) = (self.referenced, &self.ended) {
            check_status!(unsafe { sys::napi_ref_threadsafe_function(env.raw(), ended.raw()) })?;
            self.referenced = true;
        }
        Ok(())
    }

    #[napi(catch_unwind)]
    pub fn unref(&mut self, env: &Env) -> Result<()> {
        if let (true, Some(ended)) = (self.referenced, &self.ended) {
            check_status!(unsafe { sys::napi_unref_threadsafe_function(env.raw(), ended.raw()) })?;
            self.referenced = false;
        }
        Ok(())
    }

    /// Stops reading from the socket until `resume` (push backpressure).
    #[napi(catch_unwind)]
    pub fn pause(&self) {
        match &self.reader {
            Reader::Uv(watch) => watch.pause(),
            Reader::Tokio(reader) => reader.pause(),
        }
    }

    #[napi(catch_unwind)]
    pub fn resume(&self) {
        match &self.reader {
            // A refusal ends the connection, and the end reaches JS as any loss does.
            Reader::Uv(watch) => {
                let _ = watch.resume();
            }
            Reader::Tokio(reader) => {
                if let (true, Some(deliver)) = (reader.resume(), &self.ended) {
                    deliver.call((), ThreadsafeFunctionCallMode::NonBlocking);
                }
            }
        }
    }

    /// Closes the socket, or releases what a connection that ended still holds: JS calls it
    /// once it has taken the end (a delivery queued before it may still come: JS ignores it).
    #[napi(catch_unwind)]
    pub fn close(&mut self, env: &Env) {
        self.release(env);
    }

    /// The server's version from its greeting, e.g. "2.6.0".
    #[napi(getter)]
    pub fn server_version(&self) -> String {
        self.server_version.clone()
    }

    /// The server's IPROTO version from IPROTO_ID; 0 when none was exchanged.
    #[napi(getter)]
    pub fn protocol_version(&self) -> f64 {
        self.protocol.version as f64
    }

    /// The server's feature ids from IPROTO_ID; empty when none was exchanged.
    #[napi(getter)]
    pub fn protocol_features(&self) -> Vec<u32> {
        self.protocol.features.clone()
    }

    /// The authentication method the server expects, from IPROTO_ID (2.11+); null when not told.
    #[napi(getter)]
    pub fn auth_type(&self) -> Option<String> {
        self.protocol.auth_type.clone()
    }
}

/// Connects and authenticates (with `credentials`, else as guest). `onDelivery(buffer, meta,
/// closed, words)` is called on the JS thread with the frames read whenever the socket is
/// readable (see `delivery.rs` for the layout) and, once, with why the connection ended; it
/// may be called with nothing (all undefined, 0 words). On the tokio read path the first call
/// may come before the promise's reactions run. Resolves to the connection, or to an ErrorInfo
/// describing why connecting failed.
#[napi(
    catch_unwind,
    ts_args_type = "options: NativeConnectOptions, credentials: NativeCredentials | undefined | null, onDelivery: (data: Buffer | undefined, meta: Uint32Array | undefined, closed: ErrorInfo | undefined, words: number) => void",
    ts_return_type = "Promise<NativeConnection | ErrorInfo>"
)]
pub fn connect<'env>(
    env: &'env Env,
    options: NativeConnectOptions,
    credentials: Option<&NativeCredentials>,
    on_delivery: Function<'_, DeliveryArgs, Unknown<'static>>,
) -> Result<PromiseRaw<'env, Either<NativeConnection, ErrorInfo>>> {
    let read_on_tokio = read_on_tokio(env, options.read_path.as_deref())?;
    let mut connect_options = convert_options(options)?;
    connect_options.read_on_tokio = read_on_tokio;
    if let Some(c) = credentials {
        connect_options.credentials = Some(c.credentials.clone());
    }
    // On the tokio read path, small reads are copied into this on the JS thread.
    let landing = if read_on_tokio { Some(Arc::new(tokio_reader::LandingSlot::new(env)?)) } else { None };
    let mut callback = std::ptr::null_mut();
    check_status!(unsafe { sys::napi_create_reference(env.raw(), on_delivery.raw(), 1, &mut callback) })?;
    // Carried through the (Send) completion closure as a number; only the JS thread uses it.
    let callback = callback as usize;
    let slot: Arc<OnceLock<Weak<Connection>>> = Arc::new(OnceLock::new());
    let connection_slot = slot.clone();
    let inbox = read_on_tokio.then(|| Arc::new(Inbox::new()));
    let read_inbox = inbox.clone();
    let read_landing = landing.clone();
    let built = on_delivery
        .build_threadsafe_function::<()>()
        .callee_handled::<false>()
        .weak::<true>()
        .build_callback(move |_ctx| {
            let connection = connection_slot.get().and_then(Weak::upgrade);
            Ok(match (&read_inbox, &read_landing) {
                (Some(inbox), Some(landing)) => {
                    let (delivery, refs) = landing.land(tokio_reader::next_delivery(inbox, connection));
                    DeliveryArgs::new(delivery, refs)
                }
                _ => DeliveryArgs::new(Delivery { batch: None, closed: connection.and_then(|c| c.take_end()) }, None),
            })
        });
    let ended: Arc<DeliveryFn> = match built {
        Ok(ended) => Arc::new(ended),
        Err(e) => {
            unsafe { sys::napi_delete_reference(env.raw(), callback as sys::napi_ref) };
            if let Some(landing) = &landing {
                landing.release(env.raw());
            }
            return Err(Error::new(
                e.status,
                format!(
                    "this runtime cannot call JS from other threads (napi_create_threadsafe_function failed: {}), which kharon needs to hand what it reads to JS",
                    e.reason
                ),
            ));
        }
    };
    let notifier = ended.clone();
    let on_end = Box::new(move || {
        notifier.call((), ThreadsafeFunctionCallMode::NonBlocking);
    });
    let promise = env.spawn_future_with_callback(
        async move { Ok(Connection::open(connect_options, on_end).await) },
        move |env, opened| {
            let callback = callback as sys::napi_ref;
            Ok(match opened {
                Ok(connection) => {
                    let connection = Arc::new(connection);
                    let _ = slot.set(Arc::downgrade(&connection));
                    let reader = match (inbox, landing) {
                        (Some(inbox), Some(landing)) => {
                            // The ThreadsafeFunction holds the JS callback: the reference goes.
                            unsafe { sys::napi_delete_reference(env.raw(), callback) };
                            Ok(Reader::Tokio(TokioReader::start(connection.clone(), inbox, landing, ended.clone())))
                        }
                        _ => ReadWatch::start(env, callback, connection.clone()).map(Reader::Uv),
                    };
                    match reader {
                        Ok(reader) => Either::A(NativeConnection {
                            reader,
                            server_version: connection.greeting.version.clone(),
                            protocol: connection.protocol.clone(),
                            open: Rc::new(RefCell::new(Some(connection))),
                            ended: Some(ended),
                            referenced: false,
                            bytes_received: 0,
                        }),
                        // The watch took the callback's reference and has let it go.
                        Err(e) => {
                            connection.close();
                            Either::B(ErrorInfo::from(&TransportError::Internal(format!(
                                "cannot watch the socket on the event loop: {}",
                                e.reason
                            ))))
                        }
                    }
                }
                Err(e) => {
                    unsafe { sys::napi_delete_reference(env.raw(), callback) };
                    if let Some(landing) = landing {
                        landing.release(env.raw());
                    }
                    Either::B(ErrorInfo::from(&e))
                }
            })
        },
    )?;
    Ok(promise)
}

/// Whether a reader task on tokio reads the socket (`readPath: 'tokio'`, or unset where the
/// runtime has no libuv loop), rather than the JS thread on libuv's loop. `uv` asked for where
/// there is no loop is refused with why, before anything connects: libuv's functions are never
/// called there. Bun and Deno both answer napi_get_uv_event_loop with a loop that is none (on
/// Bun, uv_poll_init aborts the process; on Deno, the poll never fires), so they are told by
/// their globals.
fn read_on_tokio(env: &Env, asked: Option<&str>) -> Result<bool> {
    match asked {
        Some("tokio") => return Ok(true),
        None | Some("uv") => {}
        Some(other) => return Err(Error::new(Status::InvalidArg, format!("readPath must be 'uv' or 'tokio', got {other:?}"))),
    }
    let missing = match runtime_without_libuv(env)? {
        Some(runtime) => Some(format!("{runtime} does not offer")),
        None => {
            let mut event_loop = std::ptr::null_mut();
            let status = unsafe { sys::napi_get_uv_event_loop(env.raw(), &mut event_loop) };
            match (status == sys::Status::napi_ok, event_loop.is_null()) {
                (true, false) => None,
                (true, true) => Some("this runtime does not offer (napi_get_uv_event_loop: no loop)".to_owned()),
                (false, _) => Some(format!("this runtime does not offer (napi_get_uv_event_loop: {:?})", Status::from(status))),
            }
        }
    };
    match (missing, asked) {
        (None, _) => Ok(false),
        (Some(_), None) => Ok(true),
        (Some(why), Some(_)) => Err(Error::new(
            Status::GenericFailure,
            format!("readPath 'uv' needs Node's libuv event loop, which {why}: use readPath 'tokio'"),
        )),
    }
}

/// "Bun" or "Deno" when the global of that name is there: runtimes whose Node-API has no libuv
/// loop behind it.
fn runtime_without_libuv(env: &Env) -> Result<Option<&'static str>> {
    let mut global = std::ptr::null_mut();
    check_status!(unsafe { sys::napi_get_global(env.raw(), &mut global) })?;
    for (name, runtime) in [(c"Bun", "Bun"), (c"Deno", "Deno")] {
        let mut has = false;
        check_status!(unsafe { sys::napi_has_named_property(env.raw(), global, name.as_ptr(), &mut has) })?;
        if has {
            return Ok(Some(runtime));
        }
    }
    Ok(None)
}

/// `writeFrames(handle, frames)`, which sends request frames through a handle from a
/// connection's `createWriteHandle()` at the cost of a plain Node-API call.
#[napi(ts_return_type = "(handle: object, frames: Buffer) => number")]
pub fn frame_writer(env: &Env) -> Result<Unknown<'_>> {
    let value = unsafe { frame_writer::function(env.raw())? };
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
}

/// Tarantool's name for an error code (`ER_NO_SUCH_PROC` for 33).
#[napi(catch_unwind)]
pub fn errcode_name(errcode: u32) -> String {
    code_name(errcode)
}

fn convert_options(o: NativeConnectOptions) -> Result<ConnectOptions> {
    let address = match (o.path, o.port) {
        (Some(path), _) => unix_address(path)?,
        (None, Some(port)) if (1..=65535).contains(&port) => Address::Tcp {
            host: o.host.unwrap_or_else(|| "localhost".into()),
            port: port as u16,
        },
        _ => return Err(Error::new(Status::InvalidArg, "port must be an integer from 1 to 65535, or give a path")),
    };
    let mut options = ConnectOptions::new(address);
    if let Some(ms) = o.connect_timeout {
        if !(ms.is_finite() && ms >= 0.0) {
            return Err(Error::new(Status::InvalidArg, "connectTimeout must be a non-negative number of milliseconds"));
        }
        options.connect_timeout = Some(Duration::from_secs_f64(ms / 1000.0));
    }
    if let Some(max) = o.max_frame_size {
        if !(max.is_finite() && (16.0..=MAX_FRAME_SIZE_LIMIT as f64).contains(&max)) {
            return Err(Error::new(Status::InvalidArg, "maxFrameSize must be a number of bytes from 16 to 2^31"));
        }
        options.max_frame_size = max as usize;
    }
    if let Some(features) = o.features {
        options.negotiate = Some(Protocol { version: o.protocol_version.unwrap_or(0).into(), features, auth_type: None });
    }
    Ok(options)
}

#[cfg(unix)]
fn unix_address(path: String) -> Result<Address> {
    Ok(Address::Unix(path.into()))
}

#[cfg(not(unix))]
fn unix_address(_: String) -> Result<Address> {
    Err(Error::new(Status::InvalidArg, "unix sockets are not available on this platform"))
}
