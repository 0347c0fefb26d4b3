import kharon from './index.js'

export const {
  connect,
  connectPool,
  Pool,
  Connection,
  Call,
  PreparedStatement,
  Transport,
  Response,
  Credentials,
  Decimal,
  Uuid,
  Datetime,
  Interval,
  Extension,
  IPROTO,
  KharonError,
  ConnectionError,
  TimeoutError,
  ProtocolError,
  TarantoolError,
  UnsupportedError,
  PushOverflowError,
  AbortError,
  InternalError,
} = kharon
export default kharon
