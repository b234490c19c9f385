import Foundation

/// RFC 7489 appendix C's structure as an XML Schema, and xmllint (Debian's libxml2-utils) to
/// check reports against it.
public enum DMARCSchema {
    /// Element names, order and value sets of appendix C, without a target namespace, as
    /// reports are sent in practice.
    public static let schema = """
        <?xml version="1.0"?>
        <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
          <xs:simpleType name="Alignment"><xs:restriction base="xs:string">
            <xs:enumeration value="r"/><xs:enumeration value="s"/></xs:restriction></xs:simpleType>
          <xs:simpleType name="Disposition"><xs:restriction base="xs:string">
            <xs:enumeration value="none"/><xs:enumeration value="quarantine"/><xs:enumeration value="reject"/>
          </xs:restriction></xs:simpleType>
          <xs:simpleType name="Verdict"><xs:restriction base="xs:string">
            <xs:enumeration value="pass"/><xs:enumeration value="fail"/></xs:restriction></xs:simpleType>
          <xs:simpleType name="Override"><xs:restriction base="xs:string">
            <xs:enumeration value="forwarded"/><xs:enumeration value="sampled_out"/><xs:enumeration value="trusted_forwarder"/>
            <xs:enumeration value="mailing_list"/><xs:enumeration value="local_policy"/><xs:enumeration value="other"/>
          </xs:restriction></xs:simpleType>
          <xs:simpleType name="DKIMVerdict"><xs:restriction base="xs:string">
            <xs:enumeration value="none"/><xs:enumeration value="pass"/><xs:enumeration value="fail"/>
            <xs:enumeration value="policy"/><xs:enumeration value="neutral"/><xs:enumeration value="temperror"/>
            <xs:enumeration value="permerror"/></xs:restriction></xs:simpleType>
          <xs:simpleType name="SPFVerdict"><xs:restriction base="xs:string">
            <xs:enumeration value="none"/><xs:enumeration value="neutral"/><xs:enumeration value="pass"/>
            <xs:enumeration value="fail"/><xs:enumeration value="softfail"/><xs:enumeration value="temperror"/>
            <xs:enumeration value="permerror"/></xs:restriction></xs:simpleType>
          <xs:simpleType name="SPFScope"><xs:restriction base="xs:string">
            <xs:enumeration value="helo"/><xs:enumeration value="mfrom"/></xs:restriction></xs:simpleType>
          <xs:simpleType name="Address"><xs:restriction base="xs:string">
            <xs:pattern value="((1?[0-9]?[0-9]|2[0-4][0-9]|25[0-5])\\.){3}(1?[0-9]?[0-9]|2[0-4][0-9]|25[0-5])"/>
            <xs:pattern value="([A-Fa-f0-9]{1,4}:){7}[A-Fa-f0-9]{1,4}"/>
            <xs:pattern value="[A-Fa-f0-9:]*::[A-Fa-f0-9:]*"/>
          </xs:restriction></xs:simpleType>
          <xs:element name="feedback"><xs:complexType><xs:sequence>
            <xs:element name="version" type="xs:decimal"/>
            <xs:element name="report_metadata"><xs:complexType><xs:sequence>
              <xs:element name="org_name" type="xs:string"/>
              <xs:element name="email" type="xs:string"/>
              <xs:element name="extra_contact_info" type="xs:string" minOccurs="0"/>
              <xs:element name="report_id" type="xs:string"/>
              <xs:element name="date_range"><xs:complexType><xs:all>
                <xs:element name="begin" type="xs:integer"/><xs:element name="end" type="xs:integer"/>
              </xs:all></xs:complexType></xs:element>
              <xs:element name="error" type="xs:string" minOccurs="0" maxOccurs="unbounded"/>
            </xs:sequence></xs:complexType></xs:element>
            <xs:element name="policy_published"><xs:complexType><xs:all>
              <xs:element name="domain" type="xs:string"/>
              <xs:element name="adkim" type="Alignment" minOccurs="0"/>
              <xs:element name="aspf" type="Alignment" minOccurs="0"/>
              <xs:element name="p" type="Disposition"/>
              <xs:element name="sp" type="Disposition"/>
              <xs:element name="pct" type="xs:integer"/>
              <xs:element name="fo" type="xs:string"/>
            </xs:all></xs:complexType></xs:element>
            <xs:element name="record" maxOccurs="unbounded"><xs:complexType><xs:sequence>
              <xs:element name="row"><xs:complexType><xs:all>
                <xs:element name="source_ip" type="Address"/>
                <xs:element name="count" type="xs:integer"/>
                <xs:element name="policy_evaluated"><xs:complexType><xs:sequence>
                  <xs:element name="disposition" type="Disposition"/>
                  <xs:element name="dkim" type="Verdict"/>
                  <xs:element name="spf" type="Verdict"/>
                  <xs:element name="reason" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence>
                    <xs:element name="type" type="Override"/>
                    <xs:element name="comment" type="xs:string" minOccurs="0"/>
                  </xs:sequence></xs:complexType></xs:element>
                </xs:sequence></xs:complexType></xs:element>
              </xs:all></xs:complexType></xs:element>
              <xs:element name="identifiers"><xs:complexType><xs:all>
                <xs:element name="envelope_to" type="xs:string" minOccurs="0"/>
                <xs:element name="envelope_from" type="xs:string"/>
                <xs:element name="header_from" type="xs:string"/>
              </xs:all></xs:complexType></xs:element>
              <xs:element name="auth_results"><xs:complexType><xs:sequence>
                <xs:element name="dkim" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:all>
                  <xs:element name="domain" type="xs:string"/>
                  <xs:element name="selector" type="xs:string" minOccurs="0"/>
                  <xs:element name="result" type="DKIMVerdict"/>
                  <xs:element name="human_result" type="xs:string" minOccurs="0"/>
                </xs:all></xs:complexType></xs:element>
                <xs:element name="spf" maxOccurs="unbounded"><xs:complexType><xs:all>
                  <xs:element name="domain" type="xs:string"/>
                  <xs:element name="scope" type="SPFScope" minOccurs="0"/>
                  <xs:element name="result" type="SPFVerdict"/>
                </xs:all></xs:complexType></xs:element>
              </xs:sequence></xs:complexType></xs:element>
            </xs:sequence></xs:complexType></xs:element>
          </xs:sequence></xs:complexType></xs:element>
        </xs:schema>
        """

    /// Runs xmllint on `xml` against the schema; its exit status and messages.
    public static func validate(_ xml: String) throws -> (status: Int32, output: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dmarc-xsd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let schemaPath = directory.appendingPathComponent("rua.xsd").path, xmlPath = directory.appendingPathComponent("report.xml").path
        try schema.write(toFile: schemaPath, atomically: true, encoding: .utf8)
        try xml.write(toFile: xmlPath, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/xmllint")
        process.arguments = ["--noout", "--schema", schemaPath, xmlPath]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

}
