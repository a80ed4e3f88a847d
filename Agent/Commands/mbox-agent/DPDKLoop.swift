import Dispatch
import MBoxCapture
import MBoxDPDK
import MBoxNF

/// The DPDK receive loop of `replay`: bursts from the input port through the agent;
/// inline (with an output port) packets leave by verdict, passive ones are consumed.
struct DPDKLoop {
    let input: DPDKPort
    let output: DPDKPort?
    /// Stop after this long without a packet (finite sources such as net_pcap).
    let idleStop: Int

    func run(_ process: (CapturedPacket) throws -> Verdict) throws {
        var lastPacket = DispatchTime.now().uptimeNanoseconds
        let idleLimit = UInt64(idleStop) * 1_000_000
        while true {
            let received = input.receive()
            let now = DispatchTime.now().uptimeNanoseconds
            if received == 0 {
                if now - lastPacket > idleLimit { break }
                continue
            }
            lastPacket = now
            for index in 0..<received {
                let verdict = try process(input.packet(index, timestamp: now))
                if let output, verdict == .forward {
                    input.forward(index, to: output)
                } else {
                    input.release(index, dropped: verdict == .drop)
                }
            }
            output?.flush()
        }
        output?.flush()
    }

    static func describe(_ input: DPDKPort, _ output: DPDKPort?) -> String {
        func line(_ port: DPDKPort) -> String {
            let c = port.readCounters()
            return "port         \(port.name): rx \(c.rxPackets), tx \(c.txPackets), dropped by verdict \(c.droppedByVerdict), "
                + "tx refused \(c.txRefused), missed \(c.rxMissed), rx errors \(c.rxErrors), no mbuf \(c.rxNoMbuf)\n"
        }
        return line(input) + (output.map(line) ?? "")
    }
}
