// swift-tools-version:6.0
// codebegenfs: a FUSE filesystem for generated code trees, uploaded to Supabase Storage.
// Target graph and import rules: docs/ARCHITECTURE.md.
import PackageDescription

let package = Package(
    name: "codebegenfs",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "codebegenfs", targets: ["codebegenfs"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
    ],
    targets: [
        // C libraries, each behind one shim header (FUSE_USE_VERSION is pinned there).
        .systemLibrary(name: "CFuse", pkgConfig: "fuse3", providers: [.apt(["libfuse3-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // glibc's fallocate, copy_file_range and xattr calls, which the Glibc module leaves out.
        .systemLibrary(name: "CLinux"),

        // Pure formats: the seekable tar.gz writer/reader and its TOC.
        .target(
            name: "SeekableArchive",
            dependencies: [
                "CZlib",
                "CLinux",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // The object-store protocol and its Supabase implementation over libcurl.
        .target(
            name: "SupabaseStorage",
            dependencies: ["CCurl", .product(name: "Logging", package: "swift-log")]
        ),
        // The bundled Supabase-compatible server (tests, and mounts without SUPABASE_URL).
        .target(
            name: "StorageServer",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The core: catalog, names and lifecycle rules, blob files, the FUSE-free file system facade.
        .target(
            name: "GenerationStore",
            dependencies: [
                "SeekableArchive",
                "SupabaseStorage",
                "CLinux",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for the loops that read a row per directory entry (Catalog/RawRow.swift).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Translates low-level libfuse requests into GenerationStore calls; holds no rules.
        .target(
            name: "FuseAdapter",
            dependencies: ["GenerationStore", "CFuse", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "codebegenfs",
            dependencies: [
                "GenerationStore", "FuseAdapter", "SupabaseStorage", "StorageServer", "SeekableArchive",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // What the randomized tests share: a seeded generator.
        .target(name: "SeededRandom", path: "Tests/SeededRandom"),
        .testTarget(name: "SeekableArchiveTests", dependencies: ["SeekableArchive", "SeededRandom"]),
        .testTarget(
            name: "SupabaseStorageTests",
            dependencies: ["SupabaseStorage", "StorageServer", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "GenerationStoreTests",
            dependencies: [
                "GenerationStore", "StorageServer", "SupabaseStorage", "SeededRandom",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // Real FUSE mounts of the built `codebegenfs` binary, driven with file calls and shell tools.
        .testTarget(name: "MountTests", dependencies: ["codebegenfs", "SeededRandom"]),
    ],
    swiftLanguageModes: [.v6]
)
