import Foundation
import MBoxEvents
import MBoxFlow
import MBoxNFs
import MBoxProto
import MBoxRules

extension Mbox_V1_Alert {
    /// The protobuf form of an `IDS_ALERT` event about `key`'s flow (the fields of an EVE
    /// alert line); the spool fills in sequence and spool id.
    public init(alert event: Event, rule: Rule, key: FlowKey, chain: String, configVersion: UInt64) {
        self.init()
        let endpoints = AlertFlow(event, key)
        flow.srcIp = endpoints.source
        flow.srcPort = UInt32(endpoints.sourcePort)
        flow.destIp = endpoints.destination
        flow.destPort = UInt32(endpoints.destinationPort)
        flow.proto = endpoints.proto
        timestampUs = Int64(event.timestamp / 1000)
        flowID = event.flowID
        sid = rule.sid
        gid = rule.gid
        rev = rule.rev
        signature = rule.message
        category = rule.category
        severity = UInt32(rule.priority)
        action = rule.eveAction
        self.chain = chain
        self.configVersion = configVersion
    }
}
