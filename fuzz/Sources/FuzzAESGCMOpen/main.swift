// AES256GCM.open on arbitrary key, nonce, tag, associated data and ciphertext: wrong lengths
// and forged data throw, never crash; and a seal/open round trip holds, with any one-bit change
// to what was sealed rejected.
import FuzzSupport
import OpenSSLCrypto

fuzz { input in
    switch input.byte() % 2 {
    case 0:
        // Raw: lengths chosen by the input, deliberately around the valid ones.
        let key = input.take(exactly: input.int(in: 0...40))
        let nonce = input.take(exactly: input.int(in: 0...20))
        let tag = input.take(exactly: input.int(in: 0...20))
        let aad = input.take(input.int(in: 0...255))
        let sealed = AES256GCM.Sealed(ciphertext: input.rest(), tag: tag)
        let valid = key.count == AES256GCM.keyCount && nonce.count == AES256GCM.nonceCount
            && tag.count == AES256GCM.tagCount
        do {
            let plaintext = try AES256GCM.open(sealed, key: key, nonce: nonce, authenticating: aad)
            // Only a genuine sealed message may open: sealing the result must give it back.
            invariant(valid, "open accepted a \(key.count)-byte key, \(nonce.count)-byte nonce, \(tag.count)-byte tag")
            let resealed = try? AES256GCM.seal(plaintext, key: key, nonce: nonce, authenticating: aad)
            invariant(resealed == sealed, "open returned a plaintext that does not seal to its input")
        } catch let error as CryptoError {
            if !valid { invariant(error == .invalidParameters, "wrong lengths gave \(error), not invalidParameters") }
        } catch {
            invariant(false, "open threw a non-CryptoError: \(error)")
        }
    default:
        // Round trip, then one flipped bit in the ciphertext, tag, nonce or associated data.
        let key = input.take(exactly: AES256GCM.keyCount)
        let nonce = input.take(exactly: AES256GCM.nonceCount)
        let flip = input.int(in: 0...65535)
        let aad = input.take(input.int(in: 0...64))
        let plaintext = input.rest()
        let sealed: AES256GCM.Sealed
        do {
            sealed = try AES256GCM.seal(plaintext, key: key, nonce: nonce, authenticating: aad)
        } catch {
            invariant(false, "seal failed with valid lengths: \(error)")
            return
        }
        invariant(sealed.ciphertext.count == plaintext.count && sealed.tag.count == AES256GCM.tagCount,
                  "seal produced \(sealed.ciphertext.count)+\(sealed.tag.count) bytes for \(plaintext.count)")
        let opened = try? AES256GCM.open(sealed, key: key, nonce: nonce, authenticating: aad)
        invariant(opened == plaintext, "open(seal(p)) != p")

        var tampered = sealed, tamperedNonce = nonce, tamperedAAD = aad
        let bits = 8 * (sealed.ciphertext.count + sealed.tag.count + nonce.count + aad.count)
        var bit = flip % bits
        let mask = UInt8(1) << UInt8(bit % 8)
        if bit < 8 * sealed.ciphertext.count {
            tampered.ciphertext[bit / 8] ^= mask
        } else if (bit - 8 * sealed.ciphertext.count) < 8 * sealed.tag.count {
            bit -= 8 * sealed.ciphertext.count
            tampered.tag[bit / 8] ^= mask
        } else if (bit - 8 * (sealed.ciphertext.count + sealed.tag.count)) < 8 * nonce.count {
            bit -= 8 * (sealed.ciphertext.count + sealed.tag.count)
            tamperedNonce[bit / 8] ^= mask
        } else {
            bit -= 8 * (sealed.ciphertext.count + sealed.tag.count + nonce.count)
            tamperedAAD[bit / 8] ^= mask
        }
        do {
            _ = try AES256GCM.open(tampered, key: key, nonce: tamperedNonce, authenticating: tamperedAAD)
            invariant(false, "open accepted a message with bit \(flip % bits) flipped")
        } catch {
            invariant(error as? CryptoError == .authenticationFailed, "tampered message gave \(error)")
        }
    }
}
