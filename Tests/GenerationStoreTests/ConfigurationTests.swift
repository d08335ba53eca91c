// Unit tests of configuration resolution (DESIGN §7): flags over environment over .env.
import Testing

@testable import GenerationStore

@Suite struct ConfigurationTests {
    @Test func defaults() throws {
        let config = try Configuration.resolve(environment: ["HOME": "/home/u"], dotenv: nil, dataDirectoryFlag: nil)
        #expect(config.dataDirectory == "/home/u/.local/share/codebegenfs")
        #expect(config.useCloudStorage)
        #expect(config.bucket == "codebegen-projects")
        #expect(config.writeBackDelay == 2)
        #expect(config.signedURLTTL == 3600)
        #expect(config.cacheMaxBytes == 10 << 30)
        #expect(config.cacheTTLHours == 24)
        #expect(config.autoCleanupEnabled)
        #expect(config.remoteListInterval == 30)
    }

    @Test func cleanUpAndListingSettings() throws {
        let config = try Configuration.resolve(
            environment: ["CACHE_TTL_HOURS": "0.5", "CACHE_MAX_BYTES": "1000", "AUTO_CLEANUP_ENABLED": "no", "REMOTE_LIST_INTERVAL": "0"],
            dotenv: nil, dataDirectoryFlag: "/d")
        #expect(config.cacheTTLHours == 0.5)
        #expect(config.cacheMaxBytes == 1000)
        #expect(config.autoCleanupEnabled == false)
        #expect(config.remoteListInterval == 0)
        #expect(throws: ConfigurationError("REMOTE_LIST_INTERVAL must be a non-negative number, not \"soon\"")) {
            try Configuration.resolve(environment: ["REMOTE_LIST_INTERVAL": "soon"], dotenv: nil, dataDirectoryFlag: "/d")
        }
    }

    @Test func catalogCommitInterval() throws {
        #expect(try Configuration.resolve(environment: [:], dotenv: nil, dataDirectoryFlag: "/d").catalogCommitInterval == 0.1)
        let config = try Configuration.resolve(environment: ["CATALOG_COMMIT_INTERVAL": "2.5"], dotenv: nil, dataDirectoryFlag: "/d")
        #expect(config.catalogCommitInterval == 2.5)
        #expect(throws: ConfigurationError("CATALOG_COMMIT_INTERVAL must be a non-negative number, not \"-1\"")) {
            try Configuration.resolve(environment: ["CATALOG_COMMIT_INTERVAL": "-1"], dotenv: nil, dataDirectoryFlag: "/d")
        }
    }

    @Test func requestSpin() throws {
        #expect(try Configuration.resolve(environment: [:], dotenv: nil, dataDirectoryFlag: "/d").requestSpinMicroseconds == 100)
        let config = try Configuration.resolve(environment: ["REQUEST_SPIN_MICROSECONDS": "0"], dotenv: nil, dataDirectoryFlag: "/d")
        #expect(config.requestSpinMicroseconds == 0)
        #expect(throws: ConfigurationError("REQUEST_SPIN_MICROSECONDS must be a non-negative number, not \"-5\"")) {
            try Configuration.resolve(environment: ["REQUEST_SPIN_MICROSECONDS": "-5"], dotenv: nil, dataDirectoryFlag: "/d")
        }
        #expect(throws: ConfigurationError("REQUEST_SPIN_MICROSECONDS must be at most 1000000 (one second), not \"1e30\"")) {
            try Configuration.resolve(environment: ["REQUEST_SPIN_MICROSECONDS": "1e30"], dotenv: nil, dataDirectoryFlag: "/d")
        }
    }

    @Test func environmentOverridesDotenvAndFlagOverridesBoth() throws {
        let dotenv = """
            # comment
            export CACHE_PATH=/from/dotenv
            SUPABASE_BUCKET="quoted-bucket"
            WRITE_BACK_DELAY=5
            USE_CLOUD_STORAGE=false
            """
        let config = try Configuration.resolve(
            environment: ["WRITE_BACK_DELAY": "0.5"], dotenv: dotenv, dataDirectoryFlag: nil)
        #expect(config.dataDirectory == "/from/dotenv")
        #expect(config.bucket == "quoted-bucket")
        #expect(config.writeBackDelay == 0.5)
        #expect(config.useCloudStorage == false)
        let flagged = try Configuration.resolve(environment: [:], dotenv: dotenv, dataDirectoryFlag: "/flag")
        #expect(flagged.dataDirectory == "/flag")
    }

    @Test func badValuesAreClearErrors() {
        #expect(throws: ConfigurationError("USE_CLOUD_STORAGE must be true or false, not \"maybe\"")) {
            try Configuration.resolve(environment: ["USE_CLOUD_STORAGE": "maybe"], dotenv: nil, dataDirectoryFlag: "/d")
        }
        #expect(throws: ConfigurationError.self) {
            try Configuration.resolve(environment: ["WRITE_BACK_DELAY": "-1"], dotenv: nil, dataDirectoryFlag: "/d")
        }
        #expect(throws: ConfigurationError.self) {
            try Configuration.resolve(environment: ["SUPABASE_URL": "https://x.supabase.co"], dotenv: nil, dataDirectoryFlag: "/d")
        }
    }

    @Test func descriptionHidesTheKey() throws {
        let config = try Configuration.resolve(
            environment: ["SUPABASE_URL": "https://x.supabase.co", "SUPABASE_SERVICE_KEY": "sekrit-key-123"],
            dotenv: nil, dataDirectoryFlag: "/d")
        #expect(config.serviceKey == "sekrit-key-123")
        #expect(!config.description.contains("sekrit"))
        #expect(!"\(config)".contains("sekrit"))
    }
}
