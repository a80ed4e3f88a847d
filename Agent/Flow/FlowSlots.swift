/// The data path's flow table as a μStack may change it. A stack that makes or drops flows
/// of its own (the Splicer's backend legs) asks the data path, which records each flow's
/// stack and ends every flow the one way — its stacks closed once, NFs told — so no stack
/// edits the table behind the others' backs. Called per connection, never per packet.
public protocol FlowSlots: AnyObject {
    /// Opens a flow for `key` on `stack` (a flow the key already names ends first); nil
    /// when the table is full.
    func openFlow(_ key: FlowKey, hash: UInt32, on stack: StackKind, now: UInt64) -> Int32?
    /// Ends the flow in `slot`: its stack closed it.
    func endFlow(_ slot: Int32)
}
