//! DoGet's answers written to HTTP/2 without tonic's codec. tonic encodes a
//! message by copying it whole into its frame buffer: for large results that
//! copy of every IPC body was ~9% of the server's CPU (`perf`, draining
//! `lineitem`). Here each message goes out as a small head (gRPC prefix and the
//! protobuf fields before the body) followed by the body's own `Bytes`, which
//! h2 hands to the socket without copying. Everything else about the call —
//! routing, authentication, the handlers, errors — is unchanged: the request
//! reaches the same `FlightService::do_get`, and requests this path does not
//! speak (compressed, not HTTP/2) go to tonic's service as before.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use arrow_flight::Ticket;
use bytes::{BufMut, Bytes, BytesMut};
use http_body::{Body as HttpBody, Frame};
use prost::Message as _;
use tonic::body::Body;
use tonic::Status;

use super::ipc::Message;
use super::{FlightServer, MessageStream};
use crate::error::Error;

const DO_GET: &str = "/arrow.flight.protocol.FlightService/DoGet";

/// Body parts up to this size are copied into the chunk before them: one
/// HTTP/2 frame instead of two is worth a copy of a few kilobytes (schemas,
/// small results, validity bitmaps, padding).
const INLINE_BODY_BYTES: usize = 16 * 1024;

/// `inner` (tonic's Flight service) with DoGet answered by [`answer`].
#[derive(Clone)]
pub struct DirectDoGet<S> {
    inner: S,
    flight: FlightServer,
    max_request_bytes: usize,
}

impl<S> DirectDoGet<S> {
    pub fn new(inner: S, flight: FlightServer, max_request_bytes: usize) -> Self {
        Self { inner, flight, max_request_bytes }
    }
}

impl<S: tonic::server::NamedService> tonic::server::NamedService for DirectDoGet<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> tower::Service<http::Request<Body>> for DirectDoGet<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>>;

    /// Ready: tonic's generated service always is, and the DoGet path holds no slot of it.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if !speaks(&request) {
            return Box::pin(tower::ServiceExt::oneshot(self.inner.clone(), request));
        }
        let (flight, limit) = (self.flight.clone(), self.max_request_bytes);
        Box::pin(async move { Ok(answer(flight, request, limit).await) })
    }
}

/// An uncompressed gRPC DoGet over HTTP/2: what every Flight client sends.
fn speaks(request: &http::Request<Body>) -> bool {
    let identity = request.headers().get("grpc-encoding").is_none_or(|encoding| encoding == "identity");
    request.uri().path() == DO_GET && request.version() == http::Version::HTTP_2 && identity
}

/// The call as tonic's generated server makes it, with the answer's messages
/// framed by [`Messages`]; a refused call is a trailers-only response, as tonic's.
async fn answer(flight: FlightServer, request: http::Request<Body>, limit: usize) -> http::Response<Body> {
    let (parts, body) = request.into_parts();
    let ticket = match read_ticket(body, limit).await {
        Ok(ticket) => ticket,
        Err(error) => return Status::from(error).into_http(),
    };
    let request = tonic::Request::from_http(http::Request::from_parts(parts, ticket));
    match flight.do_get_messages(request).await {
        Ok(response) => {
            let (metadata, messages, extensions) = response.into_parts();
            let mut http = http::Response::new(Body::new(Messages::new(messages)));
            *http.headers_mut() = metadata.into_headers();
            // The headers tonic keeps out of a response's metadata.
            for reserved in ["te", "user-agent", "content-type", "grpc-message", "grpc-message-type", "grpc-status"] {
                http.headers_mut().remove(reserved);
            }
            http.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/grpc"));
            *http.extensions_mut() = extensions;
            http
        }
        Err(status) => status.into_http(),
    }
}

/// The request's one message: a gRPC length-prefixed `Ticket`, read to the
/// end of the request as tonic does.
async fn read_ticket(body: Body, limit: usize) -> Result<Ticket, Error> {
    let mut body = std::pin::pin!(body);
    let mut received = BytesMut::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|e| Error::InvalidArgument(format!("reading the DoGet request failed: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if received.len() + data.len() > limit {
                return Err(Error::ResourceExhausted(format!("a DoGet request is a ticket; this one exceeds {limit} bytes")));
            }
            received.extend_from_slice(&data);
        }
    }
    let truncated = || Error::InvalidArgument("the DoGet request ended inside its message".into());
    let prefix: [u8; 5] = received.get(..5).ok_or_else(truncated)?.try_into().expect("five bytes");
    if prefix[0] != 0 {
        return Err(Error::Unimplemented("compressed DoGet requests need a grpc-encoding header, and this server takes tickets uncompressed".into()));
    }
    let length = u32::from_be_bytes(prefix[1..].try_into().expect("four bytes")) as usize;
    let message = received.get(5..5 + length).ok_or_else(truncated)?;
    Ticket::decode(message).map_err(|e| Error::InvalidArgument(format!("malformed DoGet request: {e}")))
}

/// The answer's HTTP/2 body: each message as its head and its body's parts,
/// then the status in trailers (`grpc-status: 0`, or the error that ended the stream).
struct Messages {
    messages: MessageStream,
    pending: std::vec::IntoIter<Bytes>,
    ended: bool,
}

impl Messages {
    fn new(messages: MessageStream) -> Self {
        Self { messages, pending: Vec::new().into_iter(), ended: false }
    }
}

impl HttpBody for Messages {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(chunk) = this.pending.next() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if this.ended {
            return Poll::Ready(None);
        }
        let status = match std::task::ready!(this.messages.as_mut().poll_next(cx)) {
            Some(Ok(message)) => {
                let mut chunks = framed(message).into_iter();
                let head = chunks.next().expect("a message has a head");
                this.pending = chunks;
                return Poll::Ready(Some(Ok(Frame::data(head))));
            }
            Some(Err(status)) => status,
            None => Status::ok(""),
        };
        this.ended = true;
        Poll::Ready(Some(Ok(Frame::trailers(trailers(&status)))))
    }
}

fn trailers(status: &Status) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    if status.add_header(&mut headers).is_err() {
        // Only a message that cannot be a header value gets here; the code still can.
        headers.clear();
        let _ = Status::new(status.code(), "").add_header(&mut headers);
    }
    headers
}

/// One message as gRPC's length-prefixed protobuf FlightData, in chunks: the
/// head holds the prefix, every field but the body (tag 1000, the last prost
/// writes too) and the body's key and length; the body's parts follow as they
/// are, except small ones, copied into the chunk before them.
fn framed(message: Message) -> Vec<Bytes> {
    use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
    const BODY_TAG: u32 = 1000;
    let body_len = message.body_len();
    let body_field = if body_len == 0 { 0 } else { key_len(BODY_TAG) + encoded_len_varint(body_len as u64) };
    let length = message.fields.encoded_len() + body_field + body_len;
    let small: usize = message.body.iter().map(Bytes::len).filter(|len| *len <= INLINE_BODY_BYTES).sum();
    let mut head = BytesMut::with_capacity(5 + length - body_len + small.min(INLINE_BODY_BYTES));
    head.put_u8(0);
    head.put_u32(u32::try_from(length).expect("Flight messages stay far below 4 GiB"));
    message.fields.encode(&mut head).expect("the head has room for the fields");
    if body_len > 0 {
        encode_key(BODY_TAG, WireType::LengthDelimited, &mut head);
        encode_varint(body_len as u64, &mut head);
    }
    let mut chunks = Vec::new();
    for part in message.body {
        if part.len() <= INLINE_BODY_BYTES {
            head.extend_from_slice(&part);
        } else {
            if !head.is_empty() {
                chunks.push(std::mem::take(&mut head).freeze());
            }
            chunks.push(part);
        }
    }
    if !head.is_empty() || chunks.is_empty() {
        chunks.push(head.freeze());
    }
    chunks
}

#[cfg(test)]
mod tests {
    use arrow_flight::FlightData;

    use super::*;

    fn data(body: usize) -> FlightData {
        FlightData {
            flight_descriptor: None,
            data_header: Bytes::from_static(b"header bytes"),
            app_metadata: Bytes::from_static(b"meta"),
            data_body: Bytes::from((0..body).map(|i| i as u8).collect::<Vec<_>>()),
        }
    }

    /// What a gRPC client reads: the prefix's length, then prost's decoding.
    fn read_back(chunks: &[Bytes]) -> FlightData {
        let wire = chunks.concat();
        assert_eq!(wire[0], 0, "not compressed");
        let length = u32::from_be_bytes(wire[1..5].try_into().unwrap()) as usize;
        assert_eq!(wire.len(), 5 + length, "the prefix gives the message's length");
        FlightData::decode(&wire[5..]).unwrap()
    }

    fn prost_encoded(data: &FlightData) -> Vec<u8> {
        let mut bytes = Vec::new();
        data.encode(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn a_message_reads_back_as_prost_would_encode_it() {
        for size in [0, 100, INLINE_BODY_BYTES, INLINE_BODY_BYTES + 1, 2 << 20] {
            let original = data(size);
            let chunks = framed(Message::from_flight_data(original.clone()));
            assert_eq!(chunks.len(), if size > INLINE_BODY_BYTES { 2 } else { 1 }, "body of {size} bytes");
            assert_eq!(read_back(&chunks), original);
            assert_eq!(chunks.concat()[5..], prost_encoded(&original), "byte for byte what tonic would send");
        }
    }

    #[test]
    fn a_body_in_parts_is_sent_as_its_large_parts_between_copies_of_the_small_ones() {
        let part = |len: usize, byte: u8| Bytes::from(vec![byte; len]);
        let parts = vec![part(3, 1), part(1 << 20, 2), part(60, 0), part(INLINE_BODY_BYTES, 3), part(70_000, 4), part(5, 0)];
        let whole = FlightData { data_body: parts.concat().into(), ..data(0) };
        let message = Message { fields: data(0), body: parts.clone() };
        let chunks = framed(message);
        assert_eq!(chunks.len(), 5, "head with the first part, the large part, the small parts, the large part, the tail");
        assert_eq!(chunks[1].as_ptr(), parts[1].as_ptr(), "large parts are not copied");
        assert_eq!(chunks[3].as_ptr(), parts[4].as_ptr());
        assert_eq!(chunks.concat()[5..], prost_encoded(&whole));

        let adjacent = vec![part(1 << 20, 5), part(70_000, 6)];
        let whole = FlightData { data_body: adjacent.concat().into(), ..data(0) };
        let chunks = framed(Message { fields: data(0), body: adjacent });
        assert!(chunks.iter().all(|chunk| !chunk.is_empty()), "no empty frames between large parts");
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks.concat()[5..], prost_encoded(&whole));
    }

    #[test]
    fn a_large_body_is_sent_without_a_copy() {
        let original = data(1 << 20);
        let chunks = framed(Message::from_flight_data(original.clone()));
        assert_eq!(chunks[1].as_ptr(), original.data_body.as_ptr());
    }

    fn body_of(messages: Vec<Result<FlightData, Status>>) -> Vec<Frame<Bytes>> {
        let messages = messages.into_iter().map(|message| message.map(Message::from_flight_data));
        let mut body = Messages::new(Box::pin(futures::stream::iter(messages)));
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let mut frames = Vec::new();
            while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
                frames.push(frame.unwrap());
            }
            frames
        })
    }

    #[test]
    fn the_status_follows_the_messages_in_trailers() {
        let frames = body_of(vec![Ok(data(10)), Ok(data(1 << 20))]);
        assert_eq!(frames.len(), 4, "small message, large head and body, trailers");
        let trailers = frames[3].trailers_ref().unwrap();
        assert_eq!(trailers["grpc-status"], "0");

        let frames = body_of(vec![Ok(data(10)), Err(Status::invalid_argument("no such column: x")), Ok(data(10))]);
        assert_eq!(frames.len(), 2, "nothing after the error");
        let trailers = frames[1].trailers_ref().unwrap();
        assert_eq!(trailers["grpc-status"], (tonic::Code::InvalidArgument as i32).to_string().as_str());
        assert_eq!(trailers["grpc-message"], "no%20such%20column:%20x", "percent-encoded, as gRPC asks");
    }

    fn ticket_request(bytes: Vec<u8>) -> Result<Ticket, Error> {
        let body = Body::new(axum::body::Body::from(bytes));
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(read_ticket(body, 1024))
    }

    #[test]
    fn the_ticket_is_read_from_its_grpc_message() {
        let ticket = Ticket::new("sealed ticket");
        let message = ticket.encode_to_vec();
        let mut wire = vec![0];
        wire.extend_from_slice(&(message.len() as u32).to_be_bytes());
        wire.extend_from_slice(&message);
        assert_eq!(ticket_request(wire.clone()).unwrap(), ticket);

        assert!(matches!(ticket_request(wire[..wire.len() - 1].to_vec()), Err(Error::InvalidArgument(m)) if m.contains("ended inside")));
        assert!(matches!(ticket_request(vec![0, 0]), Err(Error::InvalidArgument(_))));
        let mut compressed = wire.clone();
        compressed[0] = 1;
        assert!(matches!(ticket_request(compressed), Err(Error::Unimplemented(_))));
        assert!(matches!(ticket_request(vec![0; 2048]), Err(Error::ResourceExhausted(_))));
        assert!(matches!(ticket_request(vec![0, 0, 0, 0, 2, 0xff, 0xff]), Err(Error::InvalidArgument(m)) if m.contains("malformed")));
    }
}
