"""Plain-words explanations of ladder rows.

The generic rules below recognise the textbook moments (the SYN, the SYN-ACK,
the ACK that completes the handshake, the first data, FINs and their ACKs,
retransmissions, probes, RSTs, timer expiries) from the row alone and what
came before it; each says its piece once. A scenario adds its own `Rule`s,
which take precedence over the generic text for the rows they match.
"""
from __future__ import annotations

from ..engine.seq import MASK
ROLES = {"client", "server", "sender", "receiver", "peer"}


def fmt_dt(dt: float | None) -> str:
    if dt is None:
        return "?"
    if dt >= 10:
        return f"{dt:.0f} s"
    if dt >= 1:
        return f"{dt:.1f} s".replace(".0 s", " s")
    return f"{dt * 1000:.0f} ms"


def fmt_secs(s: float | None) -> str:
    if s is None:
        return "2*MSL"
    return f"{s:g} s"


class Explainer:
    def __init__(self, ladder, rules=()):
        self.ladder = ladder
        self.rules = list(rules)
        self.used: set = set()
        self.rule_used: set[int] = set()
        self.fin_at: dict[tuple[str, str], int] = {}     # (src, dst) -> seq of its FIN
        self.fin_acked: set = set()
        self.dupacks: dict[str, int] = {}                 # side -> consecutive dup ACKs received
        self.rto_at: dict[str, float] = {}
        self.active: set = set()                          # sides that did an active OPEN
        self.late_at: dict[str, float] = {}               # side -> when a late segment arrived
        self.fin_delivered: dict[tuple[str, str], float] = {}

    # -------------------------------------------------------------------- helpers
    def who(self, side) -> str:
        """"the client" (a role) or "A" (a name)."""
        name = self.ladder.name(side)
        return f"the {name}" if name in ROLES else name

    def Who(self, side) -> str:
        w = self.who(side)
        return w[:1].upper() + w[1:]

    def fields(self, r) -> dict:
        msl = self.ladder.msl
        f = {"who": self.who(r.side), "other": self.who(r.other), "t": r.t,
             "Who": self.Who(r.side), "Other": self.Who(r.other),
             "msl": fmt_secs(msl), "msl2": fmt_secs(2 * msl if msl is not None else None),
             "text": r.text, "dt": fmt_dt(r.dt), "label": r.label or ""}
        if r.kind in ("segment", "arrival"):
            f.update(seq=r.shown_seq, ack=r.shown_ack, len=r.length, win=r.wnd,
                     flags=r.flag_text(), next=(r.shown_seq + r.seg_len) & MASK
                     if r.absolute or r.rseq is None else r.shown_seq + r.seg_len,
                     abs_seq=r.seq, abs_ack=r.ack, state=r.state_of(r.side),
                     port=r.dst.rpartition(":")[2], src=r.src, dst=r.dst)
        return f

    def once(self, key, text: str | None) -> list[str]:
        if text is None or key in self.used:
            return []
        self.used.add(key)
        return [text]

    def isn_words(self, r, letter: str) -> str:
        if r.absolute or r.rseq is None:
            return f"{letter} = {r.seq}"
        return f"{letter} (shown as 0, really {r.seq})"

    # ------------------------------------------------------------------------ run
    def run(self) -> None:
        for r in self.ladder.rows:
            if r.kind == "arrival":
                self.late_at[r.other] = r.t
            for side, _, to, _ in r.transitions:
                if to == "SYN_SENT":
                    self.active.add(side)
            texts = self.scenario_texts(r)
            generic = self.generic(r)
            r.explain = texts if texts else generic

    def scenario_texts(self, r) -> list[str]:
        out = []
        for i, rule in enumerate(self.rules):
            if rule.once and i in self.rule_used:
                continue
            try:
                ok = rule.match(r)
            except Exception:      # a predicate for another kind of row
                ok = False
            if ok:
                self.rule_used.add(i)
                out.append(rule.text.format(**self.fields(r)))
        return out

    def generic(self, r) -> list[str]:
        if r.kind == "segment":
            out = self.segment(r)
            if r.lost:
                out += self.once(("lost", r.reason),
                                 f"This segment is lost ({r.reason or 'dropped'}): it never "
                                 f"reaches {self.who(r.other)}.")
            return out
        if r.kind == "timer":
            return self.timer(r)
        if r.kind == "state":
            return self.state(r)
        if r.kind == "error":
            return self.error(r)
        if r.kind == "arrival":
            return self.once("late", f"This segment was sent at {r.t - (r.dt or 0):.3f} and "
                                     f"spent {fmt_dt(r.dt)} in the network: it arrives only "
                                     f"now, out of its time.")
        return []

    # -------------------------------------------------------------------- segments
    def segment(self, r) -> list[str]:
        f = self.fields(r)
        who, other, Who, Other = f["who"], f["other"], f["Who"], f["Other"]
        key = (r.src, r.dst)
        rkey = (r.dst, r.src)
        out: list[str] = []
        # bookkeeping used by several rules
        acks_fin = ("ACK" in r.flags and rkey in self.fin_at and
                    r.ack == (self.fin_at[rkey] + 1) & MASK)
        first_fin_ack = acks_fin and rkey not in self.fin_acked
        if acks_fin:
            self.fin_acked.add(rkey)
        if "dup ACK" in r.tags:
            self.dupacks[r.other] = self.dupacks.get(r.other, 0) + 1
        elif "ACK" in r.flags and r.length == 0:
            self.dupacks[r.other] = 0

        if "RST" in r.flags:
            if any(s == r.side and t == "CLOSED" and c and "ABORT" in c for s, _, t, c in r.transitions):
                out += self.once("rst-abort",
                                 f"{Who} aborts: RST instead of FIN. The connection ends at once "
                                 f"on both sides: no FIN exchange, no TIME_WAIT, and data not yet "
                                 f"delivered is thrown away. A RST is never acknowledged.")
            elif r.flags == ("RST", "ACK") and r.rack == 1 and r.rseq is None:
                out += self.once("rst-closed",
                                 f"No socket listens on port {r.src.rpartition(':')[2]}: {who} "
                                 f"answers the SYN with RST,ACK. Its ack = x+1 acknowledges the "
                                 f"SYN, which is how {other} knows the reset is meant for its "
                                 f"attempt: connect() fails with ECONNREFUSED.")
            elif r.flags == ("RST",) and (r.rseq is None or (
                    not r.transitions and self.bare(r.before_of(r.side)) in ("CLOSED", "LISTEN"))):
                out += self.once("rst-noconn",
                                 f"{Who} has no connection this segment belongs to: it answers "
                                 f"RST, with seq = the segment's ack number so that {other} "
                                 f"will accept it.")
            else:
                out += self.once("rst", "RST: the connection is reset. The receiver deletes it "
                                        "at once; RST segments are never acknowledged.")
            return out

        if r.flags == ("SYN",):
            if "rexmit" in r.tags:
                return [f"No SYN,ACK came back in time: the retransmission timer expired and "
                        f"the same SYN (same seq) goes again, {f['dt']} after the previous "
                        f"one. Each expiry doubles the next timeout (exponential backoff)."]
            opts = self.option_words(r)
            return self.once("syn",
                             f"{Who} opens the connection (active OPEN): a SYN carrying its "
                             f"initial sequence number, ISN {self.isn_words(r, 'x')}. A SYN "
                             f"carries no data (len=0) but consumes one sequence number, so "
                             f"{other} will answer ack = x+1.{opts}")

        if r.has("SYN", "ACK"):
            if "rexmit" in r.tags:
                return [f"SYN,ACK again (same seq, same ack), {f['dt']} after the previous "
                        f"one: no ACK came back, so {who}'s retransmission timer expired. Each "
                        f"expiry doubles the next timeout."]
            if r.changed_to(r.side, "SYN_SENT", "SYN_RECEIVED"):
                return self.once("synack-simopen",
                                 f"{Who} is in SYN_SENT and has received a SYN, not a SYN,ACK: a "
                                 f"simultaneous open. It moves to SYN_RECEIVED and sends SYN,ACK: "
                                 f"its own SYN again (seq = {f['seq']}) and ack = {f['ack']} for "
                                 f"the SYN it received.")
            opts = self.option_words(r)
            return self.once("synack",
                             f"{Who} acknowledges the SYN, ack = x+1 = {f['ack']}, and in the "
                             f"same segment sends its own SYN with its ISN "
                             f"{self.isn_words(r, 'y')}. It keeps a half-open connection in "
                             f"SYN_RECEIVED until the third segment arrives.{opts}")

        # every segment from here on has ACK set (or is something odd)
        if r.length == 0 and "FIN" not in r.flags:
            if "keep-alive" in r.tags:
                return self.once("keepalive",
                                 f"Keep-alive probe: no data, and seq = {f['seq']}, one less than "
                                 f"the next new byte, so it falls outside {other}'s window. "
                                 f"Whoever is still alive must answer with an ACK.")
            if "window probe" in r.tags:
                return self.once("probe0", f"Zero-window probe from the persist timer: {who} "
                                           f"asks whether the window has opened.")
            if "window update" in r.tags:
                return self.once("winupdate",
                                 f"Window update: {who}'s application read data, so there is "
                                 f"room again (win={r.wnd}). The same ack, a larger window.")
            if "zero window" in r.tags:
                return self.once("zerowin",
                                 f"The window is 0: {who}'s receive buffer is full because its "
                                 f"application is not reading. {Other} must stop sending "
                                 f"and start its persist timer.")
            if "dup ACK" in r.tags:
                return self.once("dupack",
                                 f"Duplicate ACK: a segment arrived out of order, so {who} repeats "
                                 f"ack = {f['ack']}, the first byte it is missing. Three of them "
                                 f"make {other} retransmit at once (fast retransmit).")
            if self.late_at.get(r.side) == r.t and not r.state_of(r.side).endswith("TIME_WAIT"):
                return self.once("ack-unacceptable",
                                 f"The late segment lies outside {who}'s receive window, so it "
                                 f"is unacceptable: {who} drops it and answers with an ACK of "
                                 f"what it really expects (RFC 9293 §3.10.7.4, first check).")
            if r.changed_to(r.side, "SYN_SENT", "ESTABLISHED"):
                return self.once("hs-ack",
                                 f"{Who} acknowledges {other}'s SYN: ack = y+1 = {f['ack']}, "
                                 f"with seq = x+1 = {f['seq']}. {Who} is ESTABLISHED; "
                                 f"{other} will be when this arrives. Three segments, because "
                                 f"each side must send its ISN and hear it acknowledged.")
            if first_fin_ack:
                if r.changed_to(r.side, None, "TIME_WAIT"):
                    return self.once("ack-fin-tw",
                                     f"The last ACK (ack = w+1 = {f['ack']}) acknowledges "
                                     f"{other}'s FIN. {Who} enters TIME_WAIT and stays there "
                                     f"2*MSL = {f['msl2']}: if this ACK is lost, {other} "
                                     f"will send its FIN again, and {who} must still be there "
                                     f"to acknowledge it.")
                if r.changed_to(r.side, None, "CLOSE_WAIT"):
                    return self.once("ack-fin-cw",
                                     f"{Who} acknowledges the FIN: ack = u+1 = {f['ack']}. Its "
                                     f"application will read end-of-stream, but {who} may still "
                                     f"send: it stays in CLOSE_WAIT until its application closes.")
                if r.changed_to(r.side, None, "CLOSING"):
                    return self.once("ack-fin-closing",
                                     f"{Who} was waiting for the ACK of its own FIN and got "
                                     f"{other}'s FIN instead: it acknowledges it (ack = "
                                     f"{f['ack']}) and enters CLOSING.")
                return self.once("ack-fin", f"ACK of {other}'s FIN: ack = {f['ack']}.")
            if r.state_of(r.side).endswith("TIME_WAIT") and not r.transitions:
                if not self.fin_arrived(r):
                    return self.once("tw-old",
                                     f"{Who} is in TIME_WAIT and the segment that just arrived "
                                     f"is old (it lies before RCV.NXT): {who} answers with an ACK "
                                     f"of what it really has and drops it.")
                return [f"{Who} is still in TIME_WAIT: it acknowledges the retransmitted FIN "
                        f"again and restarts its 2*MSL timer. This is why TIME_WAIT exists."]
            if "delayed ACK" in r.tags:
                return self.once("delack",
                                 f"The delayed-ACK timer fired: {who} waited up to 200 ms for "
                                 f"data to carry this ACK, found none, and sends it alone. "
                                 f"ACKs are cumulative: ack = {f['ack']} covers every byte "
                                 f"before it.")
            return self.once("ack", f"ACKs are cumulative: ack = {f['ack']} acknowledges every "
                                    f"byte before {f['ack']}.")

        # data and/or FIN
        if r.length:
            if "window probe" in r.tags:
                out += self.once("probe",
                                 f"Zero-window probe: {other}'s window is 0, so {who} may not "
                                 f"send; each time its persist timer fires it pushes one byte "
                                 f"past the window. An answer with win=0 means: still full. The "
                                 f"interval backs off like the RTO, but {who} never gives up.")
            elif "rexmit" in r.tags:
                if self.rto_at.get(r.side) == r.t:
                    out += self.once("rexmit-rto",
                                     f"Retransmission after the RTO: the oldest unacknowledged "
                                     f"data (seq = {f['seq']}) goes again, {f['dt']} after it was "
                                     f"last sent; the congestion window falls to one segment and "
                                     f"the timeout doubles.")
                elif self.dupacks.get(r.side, 0) >= 3:
                    out += self.once("rexmit-fast",
                                     f"Fast retransmit: three duplicate ACKs tell {who} this "
                                     f"segment was lost while later ones arrived, so it resends "
                                     f"it at once without waiting for the timer.")
                elif r.side in self.rto_at:
                    out += self.once("rexmit-gbn",
                                     f"Still recovering from the timeout: {who} resends, from "
                                     f"the first unacknowledged byte on, what it had sent before "
                                     f"(seq = {f['seq']}), since it cannot know which of those "
                                     f"segments arrived (go-back-N), as the ACKs allow.")
                else:
                    out += self.once("rexmit", f"Retransmission: these bytes (seq = {f['seq']}) "
                                               f"were sent before and not acknowledged.")
            else:
                words = (f"{r.length} bytes of data: seq = {f['seq']} numbers the first byte, so "
                         f"the next segment starts at {f['seq'] + r.length} and {other} "
                         f"acknowledges with ack = {f['seq'] + r.length}.")
                if "PSH" in r.flags:
                    words += " PSH: deliver it to the application without waiting."
                out += self.once(("data", r.side), words)
                if r.rack is not None and r.rack > 1 and ("piggy" not in self.used):
                    out += self.once("piggy",
                                     f"The data also carries ack = {f['ack']}: the "
                                     f"acknowledgement rides on data going the other way "
                                     f"(piggybacking), so no separate ACK is needed.")
        if "FIN" in r.flags:
            fin_seq = (r.seq + r.length) & MASK
            shown_fin = f['seq'] + r.length
            if "rexmit" in r.tags and not r.length:
                out.append(f"The FIN again, {f['dt']} after the last one: its ACK did not "
                           f"arrive before the retransmission timer expired.")
            elif rkey in self.fin_at and not self.fin_arrived_before(rkey, r.t):
                out += self.once("fin-cross",
                                 f"{Who} closes at the same moment: its FIN (seq = {shown_fin}) "
                                 f"crosses {other}'s FIN in the network. Both sides are in "
                                 f"FIN_WAIT_1, and each will get a FIN before the ACK of its "
                                 f"own: a simultaneous close.")
            elif rkey in self.fin_at:
                out += self.once("fin2",
                                 f"{Who} closes its direction too: FIN with seq = w = "
                                 f"{shown_fin}, still acknowledging {other}'s FIN "
                                 f"(ack = {f['ack']}). It enters {self.bare(r.state_of(r.side))} "
                                 f"and waits only for the ACK of this FIN.")
            else:
                out += self.once("fin1",
                                 f"{Who} closes: its FIN (seq = u = {shown_fin}) says it will send "
                                 f"no more data. Like SYN, FIN consumes one sequence number, so "
                                 f"its ACK will be ack = u+1 = {shown_fin + 1}. {Who} enters "
                                 f"{self.bare(r.state_of(r.side))}.")
            self.fin_at.setdefault(key, fin_seq)
            if r.deliver_t is not None:
                self.fin_delivered.setdefault(key, r.deliver_t)
        return out

    def fin_arrived_before(self, key, t: float) -> bool:
        d = self.fin_delivered.get(key)
        return d is not None and d <= t

    def fin_arrived(self, r) -> bool:
        """Did a FIN from the other side arrive at the instant this row was sent?"""
        for x in self.ladder.rows:
            if x is r:
                break
            if (x.kind in ("segment", "arrival") and x.side == r.other and "FIN" in x.flags
                    and x.deliver_t == r.t and not x.lost):
                return True
        return False

    @staticmethod
    def bare(state: str) -> str:
        return state.rsplit(" ", 1)[-1]

    def option_words(self, r) -> str:
        o = r.options
        if not o:
            return ""
        parts = []
        if "mss" in o:
            parts.append(f"MSS {o['mss']} is the largest segment {self.who(r.side)} can receive")
        if "wscale" in o:
            parts.append(f"wscale {o['wscale']} makes its later windows count in units of "
                         f"2^{o['wscale']} bytes")
        if o.get("sack_permitted"):
            parts.append("sackOK says it understands selective acknowledgements")
        if "tsval" in o:
            parts.append("TS offers timestamps, to measure the RTT and reject old segments "
                         "(PAWS)")
        key = ("opts", r.side)
        if key in self.used:
            return ""
        self.used.add(key)
        return " Options ride only on SYNs: " + "; ".join(parts) + "."

    # ---------------------------------------------------------------------- timers
    def timer(self, r) -> list[str]:
        who, other, Who, Other = (self.who(r.side), self.who(r.other), self.Who(r.side),
                                  self.Who(r.other))
        name = r.text
        if name == "RTO":
            self.rto_at[r.side] = r.t
            return self.once("rto", f"{Who}'s retransmission timer (RTO) expires: what it sent "
                                    f"was not acknowledged in time.")
        if name == "TIME_WAIT 2MSL":
            return self.once("2msl",
                             f"{Who} has waited 2*MSL = "
                             f"{fmt_secs(2 * self.ladder.msl if self.ladder.msl else None)} in "
                             f"TIME_WAIT: it forgets the connection. No segment lives longer than MSL, so no old duplicate "
                             f"of this connection can still arrive and be mistaken for part of "
                             f"a new one on the same ports.")
        if name == "keepalive":
            return self.once("ka-timer", f"The connection has been idle for the keep-alive time: "
                                         f"{who} checks that {other} is still there.")
        if name == "persist":
            return self.once("persist", f"{Who}'s persist timer fires: {other}'s window is "
                                        f"still 0.")
        if name == "SWS override":
            return self.once("sws-override",
                             f"{Other}'s window is open but smaller than a full segment and "
                             f"than half the largest window it offered, and nothing is in "
                             f"flight: sender silly-window avoidance held the data back "
                             f"(RFC 1122 §4.2.3.4). Its override timeout has expired, so "
                             f"{who} sends what the small window takes.")
        if name == "FIN_WAIT_2":
            return self.once("fin2-timer",
                             f"{Other} never sent its FIN. {Who}'s application has closed, so "
                             f"nobody would ever read the rest: {who} gives up after the "
                             f"FIN_WAIT_2 timeout (Linux: tcp_fin_timeout, 60 s).")
        return []

    # ---------------------------------------------------------------------- states
    def state(self, r) -> list[str]:
        who, other, Who = self.who(r.side), self.who(r.other), self.Who(r.side)
        side, frm, to, cause = r.transitions[-1]
        cause = cause or ""
        if frm == "SYN_RECEIVED" and to == "ESTABLISHED":
            if side in self.active:
                return self.once(("syn-rcvd-est", side),
                                 f"The ACK of its SYN arrives: {who} is ESTABLISHED.")
            return self.once("syn-rcvd-est",
                             f"The third segment arrives: {who} is ESTABLISHED too. The new "
                             f"connection waits on the listener's accept queue for the "
                             f"application's accept().")
        if frm == "FIN_WAIT_1" and to == "FIN_WAIT_2":
            return self.once("fw2", f"The ACK of its FIN arrives: {who}'s sending direction is "
                                    f"closed. In FIN_WAIT_2 it waits for {other}'s FIN and "
                                    f"can still receive data.")
        if frm == "LAST_ACK" and to == "CLOSED":
            return self.once("lastack", f"The ACK of its FIN arrives: {who} deletes the "
                                        f"connection at once. Only the side that closed first "
                                        f"waits in TIME_WAIT.")
        if frm == "CLOSING" and to == "TIME_WAIT":
            return self.once("closing-tw", f"The ACK of its FIN arrives: {who} goes from CLOSING "
                                           f"to TIME_WAIT.")
        if frm == "SYN_RECEIVED" and to == "LISTEN":
            return self.once("back-to-listen",
                             f"The RST removes the half-open connection: {who} is back in "
                             f"LISTEN. No connection was made.")
        if to == "CLOSED" and "RST" in cause:
            return self.once(("rst-closed-state", side),
                             f"The RST arrives: {who} deletes the connection at once.")
        if to == "CLOSED" and "exhausted" in cause:
            return self.once(("gave-up", side), f"{Who} gives up: {cause}.")
        return []

    def error(self, r) -> list[str]:
        Who = self.Who(r.side)
        words = {
            "ECONNREFUSED": "connect() fails with ECONNREFUSED (connection refused).",
            "ECONNRESET": "its next read or write fails with ECONNRESET (connection reset by "
                          "peer).",
            "ETIMEDOUT": "its pending call fails with ETIMEDOUT (connection timed out).",
        }
        text = words.get(r.text)
        return self.once(("err", r.text), f"{Who}'s application is told: {text}") if text else []
