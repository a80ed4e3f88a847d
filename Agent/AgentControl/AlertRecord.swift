import MBoxProto
import MBoxRuntime

extension Mbox_V1_Alert {
    /// The protobuf form of an alert a worker recorded (the fields of an EVE alert line);
    /// the spool fills in sequence and spool id.
    public init(_ record: AlertRecord) {
        self.init()
        let key = record.key
        flow.srcIp = "\(record.toServer ? key.client : key.server)"
        flow.srcPort = UInt32(record.toServer ? key.clientPort : key.serverPort)
        flow.destIp = "\(record.toServer ? key.server : key.client)"
        flow.destPort = UInt32(record.toServer ? key.serverPort : key.clientPort)
        flow.proto = key.ipProtocol == 6 ? "TCP" : key.ipProtocol == 17 ? "UDP" : key.ipProtocol == 1 ? "ICMP" : "\(key.ipProtocol)"
        timestampUs = Int64(record.timestamp / 1000)
        flowID = record.flowID
        sid = record.sid
        gid = record.gid
        rev = record.rev
        signature = record.signature
        category = record.category
        severity = UInt32(record.severity)
        action = record.action
        chain = record.chain
        configVersion = record.configVersion
    }
}
