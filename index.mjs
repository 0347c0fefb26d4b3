import kharon from './index.js'

export const {
  Transport,
  IPROTO,
  KharonError,
  ConnectionError,
  TimeoutError,
  ProtocolError,
  TarantoolError,
  PushOverflowError,
  InternalError,
} = kharon
export default kharon
