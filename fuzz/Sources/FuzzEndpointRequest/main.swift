// endpoint-request: EndpointRequest.parse (the local container-credentials endpoint's request
// head reader) on arbitrary bytes: never a crash; incomplete only under the size limit and
// without a blank line; an accepted request has a visible-ASCII method and target and an
// Authorization value without CR or LF; and the verdict on a complete head does not change when
// more bytes follow it (the server reads no further than the head).
//
// Each accepted request also goes to `stscache login`'s redirect handler: an outcome only with
// this login's state, a code only when it is header-safe, a page that never echoes the code, and
// only the statuses the handler uses.
import Credentials  // IdentityCenterToken: what the redirect's code may hold
import LocalEndpoint
import SignIn
import FuzzSupport

fuzz { input in
    let bytes = input.bytes
    switch EndpointRequest.parse(bytes) {
    case .incomplete:
        invariant(bytes.count <= EndpointRequest.maximumHeadSize, "incomplete past the size limit")
    case .invalid(let status, _):
        invariant(status == 400 || status == 431, "status \(status)")
    case .request(let request):
        for part in [request.method, request.target] {
            invariant(!part.isEmpty && part.utf8.allSatisfy { $0 > 32 && $0 < 127 }, "part \(part.debugDescription)")
        }
        if let authorization = request.authorization {
            invariant(!authorization.utf8.contains(13) && !authorization.utf8.contains(10), "CR/LF in the token")
        }
        invariant(EndpointRequest.parse(bytes + Array("X".utf8)) == .request(request), "trailing bytes changed the verdict")
        let flow = AuthorizationCode(verifier: "v", state: "s3cr3t")
        let (reply, outcome) = flow.callback(request)
        invariant([200, 400, 404, 405].contains(reply.status), "callback status \(reply.status)")
        invariant((outcome != nil) == reply.stop, "stop without an outcome, or an outcome without stop")
        if outcome != nil { invariant(request.target.contains("state="), "an outcome without a state") }
        if case .code(let code)? = outcome {
            invariant(IdentityCenterToken.isHeaderSafe(code), "code \(code.debugDescription)")
            invariant(code.count < 8 || !reply.body.contains(code), "the page echoes the code")
        }
    }
}
