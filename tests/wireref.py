"""Reference implementations the wire tests compare the fast code against."""


def reference_ones_sum(data: bytes) -> int:
    """RFC 1071 §1 done the slow, obvious way: pad, add 16-bit words, fold
    the carry back in after every addition (end-around carry)."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return total
