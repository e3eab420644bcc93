"""The RFC 6675 scoreboard on its own (RFC 6675 §4, RFC 2883 D-SACK)."""
from synack.engine.sack import Scoreboard

MSS = 1000


def board(una, high, blocks):
    sb = Scoreboard()
    sb.update(una, high, blocks)
    return sb


def test_update_merges_and_counts_new_octets():
    sb = Scoreboard()
    assert sb.update(0, 10_000, [(2000, 3000)]) == 1000
    assert sb.update(0, 10_000, [(3000, 4000), (2000, 3000)]) == 1000
    assert sb.blocks == [[2000, 4000]]
    assert sb.sacked == 2000


def test_cumulative_ack_trims_the_board():
    sb = board(0, 10_000, [(2000, 4000), (5000, 6000)])
    sb.update(3000, 10_000, [])
    assert sb.blocks == [[3000, 4000], [5000, 6000]]
    sb.update(7000, 10_000, [])
    assert sb.blocks == [] and sb.sacked == 0


def test_dsack_below_una_is_counted_not_stored():
    sb = Scoreboard()
    assert sb.update(5000, 10_000, [(1000, 2000)]) == 0
    assert sb.dsacks == 1 and not sb


def test_blocks_beyond_high_data_are_ignored():
    sb = Scoreboard()
    assert sb.update(0, 5000, [(6000, 7000)]) == 0
    assert not sb


def test_is_lost_needs_three_blocks_or_more_than_two_mss_above():
    # RFC 6675 §4 IsLost: DupThresh discontiguous SACKed sequences above, or
    # more than (DupThresh - 1) * SMSS SACKed octets above.
    sb = board(0, 10_000, [(1000, 2000), (3000, 4000)])
    assert not sb.is_lost(0, 0, MSS)          # 2 blocks, 2000 octets: not yet
    sb.update(0, 10_000, [(5000, 5001)])
    assert sb.is_lost(0, 0, MSS)              # 3 discontiguous blocks
    sb2 = board(0, 10_000, [(1000, 3001)])
    assert sb2.is_lost(0, 0, MSS)             # 2001 > 2 * 1000 octets


def test_pipe_counts_unlost_holes_and_retransmissions():
    # 0..1000 lost (3000 octets SACKed above), 4000..10000 not SACKed, not lost
    sb = board(0, 10_000, [(1000, 4000)])
    assert sb.pipe(0, 10_000, 0, MSS) == 6000
    # after retransmitting 0..1000 (HighRxt = 1000) that octet range counts again
    assert sb.pipe(0, 10_000, 1000, MSS) == 7000


def test_next_lost_returns_holes_in_order_above_high_rxt():
    sb = board(0, 10_000, [(1000, 2000), (3000, 4000), (5000, 6000), (7000, 8000)])
    assert sb.next_lost(0, 10_000, 0, MSS) == (0, 1000)
    assert sb.next_lost(0, 10_000, 1000, MSS) == (2000, 1000)   # 3 blocks above it
    # the hole 4000..5000 has two blocks (2000 octets) above it: not lost
    assert sb.next_lost(0, 10_000, 3000, MSS) is None
    # rule (3): unsacked below the highest SACK, loss not required
    assert sb.next_lost(0, 10_000, 3000, MSS, require_lost=False) == (4000, 1000)


def test_scoreboard_across_the_wrap():
    una = 2**32 - 1500
    sb = board(una, (una + 10_000) % 2**32, [((una + 1000) % 2**32, (una + 4000) % 2**32)])
    assert sb.sacked == 3000
    assert sb.is_lost(una, una, MSS)
    assert sb.next_lost(una, (una + 10_000) % 2**32, una, MSS) == (una, 1000)
