// login-session-file: the `aws login` session file and Sign-In's answer —
//   LoginSessionFile.parse(_ bytes: [UInt8]) -> Result<LoginSessionFile, Invalid>
//   LoginSessionFile.encoded() -> [UInt8]
//   SignInTokenClient.TokenOutput(body: [UInt8])
//   LoginSessionFile.signingKey() (the dpopKey PEM through libcrypto)
//
// Any bytes as a session file (another process writes it) or as CreateOAuth2Token's answer: no
// crash, bounded work; a file that parses writes back as bytes that parse to the same session
// (nothing lost or changed by a refresh's rewrite); a refusal's reason is a short fixed
// sentence (it names a field, never quotes a value); a PEM that is not a P-256 key is refused
// by libcrypto without a crash.
import FuzzSupport
import Credentials

fuzz { input in
    let bytes = input.bytes
    switch LoginSessionFile.parse(bytes) {
    case .success(let session):
        let again = LoginSessionFile.parse(session.encoded())
        guard case .success(let reparsed) = again else {
            invariant(false, "a parsed session file does not parse after encoding")
            return
        }
        invariant(reparsed == session, "a session file changed through encode and parse")
        _ = session.signingKey()?.publicCoordinates
    case .failure(let invalid):
        invariant(invalid.reason.utf8.count < 200, "a refusal's reason is long enough to quote a value")
    }
    if let output = SignInTokenClient.TokenOutput(body: bytes) {
        invariant((1...3600).contains(output.expiresIn), "expiresIn out of range")
        invariant(!output.refreshToken.isEmpty, "an empty refresh token was accepted")
    }
}
