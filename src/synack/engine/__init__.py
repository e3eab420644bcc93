"""The protocol core: TCP as RFC 9293 describes it, sans-I/O.

Nothing in this package reads a clock, sleeps, or touches a socket. Time,
randomness and segments go in; segments, events and the next deadline come
out. The drivers (`synack.sim`, `synack.tun`, `synack.packetdrill`) and the
APIs (`synack.api`) sit on top of it. docs/engine.md walks one segment
through these modules.

    seq         sequence-number arithmetic modulo 2**32 (RFC 9293 §3.4)
    segment     the Segment and Options records, and how they are built
    states      the eleven states and the transitions the engine may take
    config      every setting of a host, checked
    events      what the engine tells the application
    isn         initial sequence numbers (RFC 6528)
    cookies     SYN cookies
    rtt         the RTT estimator and RTO (RFC 6298)
    congestion  congestion control: NewReno, and the registry of controllers
    cubic       CUBIC (RFC 9438)
    sack        the SACK scoreboard (RFC 2018, RFC 6675)
    recovery    loss recovery: RACK-TLP (RFC 8985) and PRR (RFC 6937)
    reassembly  out-of-order data held until the gap fills
    info        what a socket layer reads and sets: TCP_INFO, queue sizes, options
    timewait    TIME-WAIT without a connection (RFC 9293 §3.6.1)
    fastopen    client TCP Fast Open: the cookie cache, the SYN's data (RFC 7413)
    listener    LISTEN: the SYN and accept queues
    host        demultiplexing, ports, and the host's shared limits
    connection  the TCB and the state machine (RFC 9293 §3.10)
"""
