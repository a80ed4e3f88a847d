/// The IDS chain `replay` runs when given rules but no chain; the same text is shipped as
/// chains/ids.yaml (a test keeps the two equal).
enum DefaultChain {
    static let file = "<built-in chains/ids.yaml>"
    static let yaml = """
# The IDS chain (mbox-agent replay's default): TCP Monitor with reassembly; DPI reads the
# client's stream until it knows the protocol, then hands HTTP flows to Signature_Match,
# which matches rules over the reassembled stream (patterns split across segments too).
name: ids
stack:
  type: tcp_monitor
  reassembly: true
mode: sequential
functions:
  - name: dpi
    type: DPI
    subscribe:
      - event: DATA_RDY
        from: client
    publish: [EVENT/DPI_DETECT]
  - name: signature_match
    type: Signature_Match
    subscribe:
      - event: EVENT/DPI_DETECT
      - event: DATA_RDY
        dynamic: true
    publish: [EVENT/IDS_ALERT]

"""
}
