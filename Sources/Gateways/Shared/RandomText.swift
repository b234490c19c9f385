/// Random lower-case hex text, for session ids, message ids and SASL/APOP nonces.
public enum RandomText {
    public static func hex(_ count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: (0..<count).map { _ in digits[Int(generator.next() % 16)] }, as: UTF8.self)
    }
}
