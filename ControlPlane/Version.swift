/// The release every program of this project reports (mboxctl, the controller, agents);
/// the one place it is written.
public enum MBoxVersion {
    public static let release = "0.6.0"
    /// The control-plane API the programs speak.
    public static let api = "mbox.v1"
    /// What `--version` prints.
    public static let description = "\(release) (API \(api))"
}
