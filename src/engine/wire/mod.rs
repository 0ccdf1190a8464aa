//! The peer wire protocol (BEP 3) with the Fast extension (BEP 6) and the
//! extension protocol (BEP 10): message types, framing, handshakes. Pure
//! codecs over any ordered byte stream; sessions live in `engine::peer`.

pub mod codec;
pub mod extension;
pub mod handshake;
pub mod message;
pub mod metadata;
pub mod pex;

pub use codec::{MessageCodec, WireError};
pub use extension::{EXTENSION_HANDSHAKE_ID, ExtensionHandshake};
pub use handshake::{Handshake, PeerId, Reserved};
pub use message::{BLOCK_SIZE, BlockRequest, Message};
pub use metadata::{MetadataAssembly, MetadataMessage, UT_METADATA};
pub use pex::{PexFlags, PexMessage, UT_PEX};
