//! The protobuf wire format, read-only: just enough to walk a message field by field.
//!
//! Every read is bounded by the slice it reads from, so malformed input ends in a [`WireError`],
//! never a panic, and every step consumes at least one byte, so no input loops forever.

/// A low-level defect in the protobuf encoding itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("unexpected end of data")]
    Truncated,
    #[error("varint longer than 10 bytes")]
    VarintOverflow,
    #[error("length {length} exceeds the {remaining} bytes left")]
    LengthOutOfBounds { length: u64, remaining: usize },
    #[error("invalid field number {0}")]
    InvalidFieldNumber(u64),
    #[error("unsupported wire type {0}")]
    UnsupportedWireType(u8),
}

/// One field's payload, as the wire type describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
}

impl WireValue<'_> {
    /// The wire type number (0, 1, 2, 5) for error messages.
    pub fn wire_type(&self) -> u8 {
        match self {
            WireValue::Varint(_) => 0,
            WireValue::Fixed64(_) => 1,
            WireValue::Len(_) => 2,
            WireValue::Fixed32(_) => 5,
        }
    }
}

/// A cursor over the fields of one message.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn read_varint(&mut self) -> Result<u64, WireError> {
        let mut value: u64 = 0;
        // A u64 needs at most 10 groups of 7 bits; bits past 64 are dropped, as Go's decoders do.
        for i in 0..10 {
            let byte = *self.buf.get(self.pos).ok_or(WireError::Truncated)?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError::VarintOverflow)
    }

    fn read_fixed<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let end = self.pos.checked_add(N).ok_or(WireError::Truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub fn read_fixed64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.read_fixed::<8>()?))
    }

    fn read_len(&mut self) -> Result<&'a [u8], WireError> {
        let length = self.read_varint()?;
        let remaining = self.buf.len() - self.pos;
        let len = usize::try_from(length)
            .ok()
            .filter(|&l| l <= remaining)
            .ok_or(WireError::LengthOutOfBounds { length, remaining })?;
        let bytes = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }

    /// The next field's number and payload, or `None` at the end of the message.
    /// Groups (wire types 3 and 4, deprecated and never produced by Kubernetes) are rejected.
    pub fn next_field(&mut self) -> Result<Option<(u32, WireValue<'a>)>, WireError> {
        if self.is_empty() {
            return Ok(None);
        }
        let key = self.read_varint()?;
        let number = key >> 3;
        if number == 0 || number > 0x1fff_ffff {
            return Err(WireError::InvalidFieldNumber(number));
        }
        let value = match (key & 7) as u8 {
            0 => WireValue::Varint(self.read_varint()?),
            1 => WireValue::Fixed64(self.read_fixed64()?),
            2 => WireValue::Len(self.read_len()?),
            5 => WireValue::Fixed32(u32::from_le_bytes(self.read_fixed::<4>()?)),
            other => return Err(WireError::UnsupportedWireType(other)),
        };
        Ok(Some((number as u32, value)))
    }
}
