import Foundation
import SigV4
@testable import STS
import Testing

@Suite("XML scanner")
struct XMLScannerTests {
    private func parse(_ text: String, limits: XMLLimits = XMLLimits()) throws(XMLScanError) -> XMLElement {
        try XMLScanner.parse(Array(text.utf8), limits: limits)
    }

    @Test("decodes the five predefined entities and numeric references")
    func entities() throws {
        let root = try parse("<a>&lt;&gt;&amp;&apos;&quot; &#65;&#x42;&#x1F600; &#233;</a>")
        #expect(root.text == "<>&'\" AB😀 é")
    }

    @Test("keeps CDATA verbatim, markup and entities included")
    func cdata() throws {
        let root = try parse("<a>x<![CDATA[<b>&amp;</b>]]>y</a>")
        #expect(root.text == "x<b>&amp;</b>y")
    }

    @Test("skips the XML declaration, a BOM, comments and processing instructions")
    func prologue() throws {
        let text = "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c --><a><?pi x?><b>1</b><!-- <c> --></a>\n<!-- end -->\n"
        let root = try parse(text)
        #expect(root.name == "a")
        #expect(root.children.map(\.name) == ["b"])
        #expect(root.childText("b") == "1")
    }

    @Test("strips namespace prefixes and reads attributes without keeping them")
    func namespaces() throws {
        let root = try parse("<sts:R xmlns:sts='urn:x' a=\"1&amp;2\"><sts:V>v</sts:V><E/></sts:R>")
        #expect(root.name == "R")
        #expect(root.childText("V") == "v")
        #expect(root.child("E") != nil)
    }

    @Test("refuses DOCTYPE and ENTITY declarations (entity-expansion bombs)")
    func doctypeRefused() {
        let bomb = """
            <?xml version="1.0"?>
            <!DOCTYPE lolz [
              <!ENTITY lol "lol">
              <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
            ]>
            <lolz>&lol2;</lolz>
            """
        #expect(throws: XMLScanError.declarationForbidden) { try parse(bomb) }
        #expect(throws: XMLScanError.declarationForbidden) { try parse("<a><!ENTITY x \"y\"></a>") }
        #expect(XMLScanError.declarationForbidden.message.contains("DOCTYPE"))
    }

    @Test("refuses unknown entities and invalid character references")
    func badReferences() {
        #expect(throws: XMLScanError.unknownEntity("lol")) { try parse("<a>&lol;</a>") }
        #expect(throws: XMLScanError.invalidCharacterReference("#0")) { try parse("<a>&#0;</a>") }
        #expect(throws: XMLScanError.invalidCharacterReference("#xD800")) { try parse("<a>&#xD800;</a>") }
        #expect(throws: XMLScanError.invalidCharacterReference("#x110000")) { try parse("<a>&#x110000;</a>") }
        #expect(throws: XMLScanError.invalidCharacterReference("#x")) { try parse("<a>&#x;</a>") }
        #expect(throws: (any Error).self) { try parse("<a>fish & chips</a>") }
    }

    @Test("refuses malformed structure", arguments: [
        "", "   ", "text", "<a>", "<a></b>", "<a><b></a></b>", "<a></a><b></b>", "<a></a>trailing",
        "<a x=1></a>", "<a x=\"1\"y=\"2\"></a>", "<a>\u{01}</a>", "</a>", "<a><![CDATA[x</a>", "<a><!-- x</a>",
    ])
    func malformed(text: String) {
        #expect(throws: XMLScanError.self) { try parse(text) }
    }

    @Test("names the tags of a mismatched end tag")
    func mismatched() {
        #expect(throws: XMLScanError.mismatchedEndTag(expected: "b", found: "a")) { try parse("<a><b></a>") }
    }

    @Test("refuses invalid UTF-8")
    func invalidUTF8() {
        #expect(throws: XMLScanError.invalidUTF8) { try XMLScanner.parse([0x3C, 0x61, 0x3E, 0xFF, 0x3C, 0x2F, 0x61, 0x3E]) }
    }

    @Test("bounds nesting depth without recursing")
    func depthBounded() throws {
        let deep = String(repeating: "<a>", count: 100_000) + String(repeating: "</a>", count: 100_000)
        #expect(throws: XMLScanError.tooDeep(limit: 32)) { try parse(deep) }
        let fine = String(repeating: "<a>", count: 32) + "x" + String(repeating: "</a>", count: 32)
        #expect(try parse(fine).name == "a")
    }

    @Test("bounds input size and element count")
    func sizeBounded() {
        let huge = "<a>" + String(repeating: "x", count: 1 << 20) + "</a>"
        #expect(throws: XMLScanError.tooLarge(limit: 1 << 20)) { try parse(huge) }
        let many = "<a>" + String(repeating: "<b/>", count: 10_001) + "</a>"
        #expect(throws: XMLScanError.tooManyElements(limit: 10_000)) { try parse(many) }
    }
}

@Suite("STS response decoding")
struct ResponseDecodingTests {
    @Test("decodes a real-looking AssumeRole response")
    func assumeRole() throws {
        let result = try STSResponseDecoder.decodeAssumeRole(Array(Fixtures.assumeRoleResponse.utf8))
        #expect(result.credentials.accessKeyId == "ASIAIOSFODNN7EXAMPLE")
        #expect(result.credentials.secretAccessKey == Fixtures.secretAccessKey)
        #expect(result.credentials.sessionToken == Fixtures.sessionToken)
        #expect(result.credentials.expiration == Date(timeIntervalSince1970: 1_573_306_481))
        #expect(result.expiration == Date(timeIntervalSince1970: 1_573_306_481))
        #expect(result.assumedRoleUser == AssumedRoleUser(
            arn: "arn:aws:sts::123456789012:assumed-role/Admin/alice", assumedRoleId: "AROA3XFRBF535PLBIFPI4:alice"))
        #expect(result.requestId == "c6104cbe-af31-11e0-8154-cbc7ccf896c7")
        for text in [String(describing: result), String(reflecting: result)] {
            #expect(!text.contains(Fixtures.secretAccessKey))
            #expect(!text.contains(Fixtures.sessionToken))
            #expect(text.contains("ASIAIOSFODNN7EXAMPLE"))
        }
    }

    @Test("reads fractional-second expirations")
    func fractionalExpiration() throws {
        let body = Fixtures.assumeRoleResponse.replacingOccurrences(
            of: "2019-11-09T13:34:41Z", with: "2019-11-09T13:34:41.500Z")
        let result = try STSResponseDecoder.decodeAssumeRole(Array(body.utf8))
        #expect(result.expiration.timeIntervalSince1970 == 1_573_306_481.5)
    }

    @Test("decodes entity-escaped and CDATA credential fields")
    func escapedFields() throws {
        let body = Fixtures.assumeRoleResponse
            .replacingOccurrences(of: "<SessionToken>\(Fixtures.sessionToken)</SessionToken>",
                                  with: "<SessionToken><![CDATA[tok&en+/=]]></SessionToken>")
            .replacingOccurrences(of: "<SecretAccessKey>\(Fixtures.secretAccessKey)</SecretAccessKey>",
                                  with: "<SecretAccessKey>a&amp;b&#x2F;c</SecretAccessKey>")
        let result = try STSResponseDecoder.decodeAssumeRole(Array(body.utf8))
        #expect(result.credentials.sessionToken == "tok&en+/=")
        #expect(result.credentials.secretAccessKey == "a&b/c")
    }

    @Test("names the missing field", arguments: [
        ("<SessionToken>\(Fixtures.sessionToken)</SessionToken>", "<Credentials> has no <SessionToken>"),
        ("<AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>", "<Credentials> has no <AccessKeyId>"),
        ("<Expiration>2019-11-09T13:34:41Z</Expiration>", "<Credentials> has no <Expiration>"),
        ("<Arn>arn:aws:sts::123456789012:assumed-role/Admin/alice</Arn>", "<AssumedRoleUser> has no <Arn>"),
    ])
    func missingField(element: String, reason: String) {
        let body = Fixtures.assumeRoleResponse.replacingOccurrences(of: element, with: "")
        let error = #expect(throws: STSError.self) { try STSResponseDecoder.decodeAssumeRole(Array(body.utf8)) }
        #expect(error?.code == "sts.malformed-response")
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "")")
    }

    @Test("refuses an unreadable expiration and a wrong root element")
    func wrongShapes() {
        let badDate = Fixtures.assumeRoleResponse.replacingOccurrences(of: "2019-11-09T13:34:41Z", with: "tomorrow")
        let dateError = #expect(throws: STSError.self) { try STSResponseDecoder.decodeAssumeRole(Array(badDate.utf8)) }
        #expect(dateError?.message.contains("'tomorrow' is not an RFC 3339 timestamp") == true)

        let wrongRoot = Fixtures.assumeRoleResponse.replacingOccurrences(of: "AssumeRoleResponse", with: "GetCallerIdentityResponse")
        let rootError = #expect(throws: STSError.self) { try STSResponseDecoder.decodeAssumeRole(Array(wrongRoot.utf8)) }
        #expect(rootError?.message.contains("expected <AssumeRoleResponse>, found <GetCallerIdentityResponse>") == true)
    }

    @Test("turns an XML bomb into a clear decode error")
    func bombIsDecodeError() {
        let body = "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><AssumeRoleResponse>&a;</AssumeRoleResponse>"
        let error = #expect(throws: STSError.self) { try STSResponseDecoder.decodeAssumeRole(Array(body.utf8)) }
        #expect(error?.code == "sts.malformed-response")
        #expect(error?.message.contains("DOCTYPE") == true)
    }

    @Test("decodes GetSessionToken, which has no assumed role user")
    func getSessionToken() throws {
        let body = """
            <GetSessionTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
              <GetSessionTokenResult>
                <Credentials>
                  <SessionToken>AQoEXAMPLEH4aoAH0gNCAPy</SessionToken>
                  <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
                  <Expiration>2011-07-11T19:55:29.611Z</Expiration>
                  <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
                </Credentials>
              </GetSessionTokenResult>
              <ResponseMetadata><RequestId>58c5dbae-abef-11e0-8cfe-09039844ac7d</RequestId></ResponseMetadata>
            </GetSessionTokenResponse>
            """
        let result = try STSResponseDecoder.decodeGetSessionToken(Array(body.utf8))
        #expect(result.credentials.sessionToken == "AQoEXAMPLEH4aoAH0gNCAPy")
        #expect(result.assumedRoleUser == nil)
        #expect(abs(result.expiration.timeIntervalSince1970 - 1_310_414_129.611) < 0.000_1)
    }

    @Test("decodes AssumeRoleWithWebIdentity")
    func webIdentity() throws {
        let body = """
            <AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
              <AssumeRoleWithWebIdentityResult>
                <SubjectFromWebIdentityToken>amzn1.account.AF6RHO7KZU5XRVQJGXK6HB56KR2A</SubjectFromWebIdentityToken>
                <Audience>client.5498841531868486423.1548@apps.example.com</Audience>
                <AssumedRoleUser>
                  <Arn>arn:aws:sts::123456789012:assumed-role/FederatedWebIdentityRole/app1</Arn>
                  <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:app1</AssumedRoleId>
                </AssumedRoleUser>
                <Credentials>
                  <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>
                  <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
                  <Expiration>2014-10-24T23:00:23Z</Expiration>
                  <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>
                </Credentials>
                <Provider>www.amazon.com</Provider>
              </AssumeRoleWithWebIdentityResult>
              <ResponseMetadata><RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId></ResponseMetadata>
            </AssumeRoleWithWebIdentityResponse>
            """
        let result = try STSResponseDecoder.decodeAssumeRoleWithWebIdentity(Array(body.utf8))
        #expect(result.assumedRoleUser?.arn == "arn:aws:sts::123456789012:assumed-role/FederatedWebIdentityRole/app1")
        #expect(result.credentials.accessKeyId == "ASgeIAIOSFODNN7EXAMPLE")
    }

    @Test("decodes an error document with entities in the message")
    func errorDocument() throws {
        let body = Fixtures.errorDocument(
            code: "AccessDenied",
            message: "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: sts:AssumeRole on resource: &lt;Admin&gt; &amp; more")
        let document = try STSResponseDecoder.decodeError(Array(body.utf8))
        #expect(document == STSErrorDocument(
            type: "Sender", code: "AccessDenied",
            message: "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: sts:AssumeRole on resource: <Admin> & more",
            requestId: "4f1c2a3b-0000-4000-8000-000000000000"))
    }

    @Test("decodes an error message given as CDATA, and refuses an error without a code")
    func errorDocumentCDATAAndMissingCode() throws {
        let cdata = "<ErrorResponse><Error><Code>ValidationError</Code><Message><![CDATA[1 validation error: <roleSessionName>]]></Message></Error></ErrorResponse>"
        let document = try STSResponseDecoder.decodeError(Array(cdata.utf8))
        #expect(document.code == "ValidationError")
        #expect(document.message == "1 validation error: <roleSessionName>")
        #expect(document.type == nil)
        #expect(document.requestId == nil)

        let noCode = "<ErrorResponse><Error><Message>x</Message></Error></ErrorResponse>"
        let error = #expect(throws: STSError.self) { try STSResponseDecoder.decodeError(Array(noCode.utf8)) }
        #expect(error?.message.contains("<Error> has no <Code>") == true)
    }

    @Test("decodes the <Errors><Error> wrapping that moto and EC2-style answers use")
    func errorDocumentWrappedInErrors() throws {
        let body = """
            <?xml version="1.0" encoding="utf-8"?>
            <ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>not allowed</Message><Type>Sender</Type></Error></Errors></ErrorResponse>
            """
        let document = try STSResponseDecoder.decodeError(Array(body.utf8))
        #expect(document.code == "AccessDenied")
        #expect(document.message == "not allowed")

        let ec2Style = "<Response><Errors><Error><Code>Throttling</Code></Error></Errors><RequestId>r-1</RequestId></Response>"
        let throttled = try STSResponseDecoder.decodeError(Array(ec2Style.utf8))
        #expect(throttled.code == "Throttling")
        #expect(throttled.requestId == "r-1")
    }
}
