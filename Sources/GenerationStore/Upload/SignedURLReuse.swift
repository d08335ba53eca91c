// When a cached signed download URL may still be handed out, and when it must be re-signed.
import Foundation
import SupabaseStorage

extension Configuration {
    /// A signed URL is reused while more than this many seconds of it remain: 5 minutes (DESIGN §3), or
    /// half the lifetime when URLs live 10 minutes or less, so that a short `SIGNED_URL_TTL` still yields
    /// a freshly signed URL instead of one that is never good enough to hand out.
    var signedURLReuseMargin: TimeInterval { min(300, Double(signedURLTTL) / 2) }

    /// Whether `signed` still has enough life left to be answered as `download_url`.
    func isReusable(_ signed: SignedURL, now: Date = Date()) -> Bool {
        signed.expiresAt.timeIntervalSince(now) > signedURLReuseMargin
    }
}
