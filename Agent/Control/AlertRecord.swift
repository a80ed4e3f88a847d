import Foundation
import MBoxEvents
import MBoxFlow
import MBoxProto
import MBoxRules

extension Mbox_V1_Alert {
    /// The protobuf form of an `IDS_ALERT` event about `key`'s flow (the fields of an EVE
    /// alert line); the spool fills in sequence and spool id.
    public init(alert event: Event, rule: Rule, key: FlowKey, chain: String, configVersion: UInt64) {
        self.init()
        let toServer = event.cause == .client
        flow.srcIp = "\(toServer ? key.client : key.server)"
        flow.srcPort = UInt32(toServer ? key.clientPort : key.serverPort)
        flow.destIp = "\(toServer ? key.server : key.client)"
        flow.destPort = UInt32(toServer ? key.serverPort : key.clientPort)
        flow.proto = key.ipProtocol == 6 ? "TCP" : key.ipProtocol == 17 ? "UDP" : key.ipProtocol == 1 ? "ICMP" : "\(key.ipProtocol)"
        timestampUs = Int64(event.timestamp / 1000)
        flowID = event.flowID
        sid = rule.sid
        gid = rule.gid
        rev = rule.rev
        signature = rule.message
        category = rule.category
        severity = UInt32(rule.priority)
        action = rule.action == .drop || rule.action == .reject ? "blocked" : "allowed"
        self.chain = chain
        self.configVersion = configVersion
    }
}
