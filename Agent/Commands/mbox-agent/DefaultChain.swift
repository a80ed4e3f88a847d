/// The IDS chain `replay` runs when given rules but no chain; the same text is shipped as
/// chains/ids.yaml (a test keeps the two equal).
enum DefaultChain {
    static let file = "<built-in chains/ids.yaml>"
    static let yaml = """
# The IDS chain (mbox-agent replay's default): TCP Monitor with reassembly of both
# directions; Signature_Match sees every packet (TCP, UDP, ICMP, other IP; once per
# packet: the sender's stack event), both reassembled streams (patterns split across
# segments too; its HTTP, TLS, DNS and SSH parsers read them) and each flow's end.
name: ids
stack:
  type: tcp_monitor
  reassembly: true
mode: sequential
functions:
  - name: signature_match
    type: Signature_Match
    subscribe:
      - event: PKT
        stack: sender
      - event: DATA_RDY
      - event: FLOW_DEST
    publish: [EVENT/IDS_ALERT]

"""
}
