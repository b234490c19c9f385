import Foundation

/// Adds an ARC set (RFC 8617 §5.1) to a message this server passes on: the
/// ARC-Authentication-Results with what it found, an ARC-Message-Signature over the message as
/// it leaves, and an ARC-Seal over the chain, relaxed canonicalization throughout.
public enum ARCSealer {
    /// The three fields (each with its CRLF) to put before `message`'s header, newest set
    /// first. `chain` is the validation of the sets already there; `results` the
    /// Authentication-Results text after the authserv-id (`spf=pass smtp.mailfrom=…; dkim=…`).
    public static func seal(_ message: some RandomAccessCollection<UInt8>, key: DKIMKey, authservID: String, results: String,
                            chain: ARCResult, at time: Date) throws -> [UInt8] {
        guard let header = HeaderFields(message) else { throw DKIMSignature.Failure.invalid("the message has no readable header") }
        guard chain.instances < ARCVerifier.maximumSets else { throw DKIMSignature.Failure.invalid("the chain has 50 sets already") }
        let instance = chain.instances + 1
        // §5.1.1: a chain that failed stays failed; the first set has none before it.
        let cv = chain.outcome == .fail ? "fail" : (instance == 1 ? "none" : "pass")
        let clean = results.filter { !$0.isNewline }
        let resultsField = Array("ARC-Authentication-Results: i=\(instance); \(authservID);\r\n\t\(clean.isEmpty ? "none" : clean)\r\n".utf8)

        // The message signature: the usual header fields, not the ARC ones.
        var hasher = DKIMCanonicalization.BodyHasher(.relaxed)
        hasher.update(message.dropFirst(header.bodyStart))
        var names: [String] = []
        for name in DKIMSigner.headerNames {
            names += Array(repeating: name, count: header.lastFirst(name).count)
        }
        let stamp = Int64(time.timeIntervalSince1970)
        let signatureTags = ["i=\(instance)", "a=\(key.algorithm.rawValue)", "c=relaxed/relaxed", "d=\(key.domain)", "s=\(key.selector)",
                             "t=\(stamp)", "h=\(names.joined(separator: ":"))", "bh=\(Data(hasher.finish()).base64EncodedString())", "b="]
        let unsignedSignature = "ARC-Message-Signature: " + signatureTags.joined(separator: ";\r\n\t")
        let signatureData = DKIMHashInput.headers(header, names: names, canonicalization: .relaxed)
            + DKIMHashInput.signatureField(Array(unsignedSignature.utf8), .relaxed)
        let signatureField = Array((unsignedSignature + fold(try key.sign(signatureData)) + "\r\n").utf8)

        // The seal: every earlier set in order, then this one's results, signature and seal.
        let arc = header.fields.filter { $0.name.lowercased().hasPrefix("arc-") }
        var sealData: [UInt8] = []
        if instance > 1 {
            for earlier in 1..<instance {
                for name in ["arc-authentication-results", "arc-message-signature", "arc-seal"] {
                    guard let field = arc.first(where: { $0.name.lowercased() == name && ARCVerifier.instance(of: $0, name: name) == earlier })
                    else { throw DKIMSignature.Failure.invalid("ARC set \(earlier) is incomplete") }
                    sealData += DKIMCanonicalization.relaxed.header(field.raw)
                }
            }
        }
        let sealTags = ["i=\(instance)", "a=\(key.algorithm.rawValue)", "t=\(stamp)", "cv=\(cv)", "d=\(key.domain)", "s=\(key.selector)", "b="]
        let unsignedSeal = "ARC-Seal: " + sealTags.joined(separator: ";\r\n\t")
        sealData += DKIMCanonicalization.relaxed.header(resultsField) + DKIMCanonicalization.relaxed.header(signatureField)
            + DKIMHashInput.signatureField(Array(unsignedSeal.utf8), .relaxed)
        let sealField = Array((unsignedSeal + fold(try key.sign(sealData)) + "\r\n").utf8)
        return sealField + signatureField + resultsField
    }

    static func fold(_ signature: [UInt8]) -> String {
        var folded = ""
        for (index, character) in Data(signature).base64EncodedString().enumerated() {
            if index > 0, index % 72 == 0 { folded += "\r\n\t " }
            folded.append(character)
        }
        return folded
    }
}
