import Foundation
import Gateways

/// Builds the bootstrap configuration from its four sources and checks it as a whole.
struct ConfigurationLoader {
    /// The environment variable naming the configuration file when `--config` is not given.
    static let fileVariable = "PILLARBOX_CONFIG"

    var environment: [String: String] = ProcessInfo.processInfo.environment
    var workingDirectory: String = FileManager.default.currentDirectoryPath

    /// - Parameters:
    ///   - file: `--config`, if given.
    ///   - flags: flag values by key path (`listeners.smtp`), from the command line.
    func load(file: String?, flags: [String: String]) throws -> BootstrapConfiguration {
        var configuration = BootstrapConfiguration.defaults()

        if let file = file ?? environment[Self.fileVariable], !file.isEmpty {
            try apply(fileAt: absolute(file), to: &configuration)
        }
        for key in ConfigurationKey.all {
            guard let text = environment[key.environment] else { continue }
            try apply(key, .text(text), source: key.environment, to: &configuration)
        }
        for key in ConfigurationKey.all {
            guard let text = flags[key.path] else { continue }
            try apply(key, .text(text), source: "--\(key.flag ?? key.path)", to: &configuration)
        }
        try validate(configuration)
        return configuration
    }

    private func apply(fileAt path: String, to configuration: inout BootstrapConfiguration) throws {
        let source = "config file \(path)"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(source: source, key: "(file)", message: "cannot be read")
        }
        let document: JSONValue
        do {
            document = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw ConfigurationError(source: source, key: "(file)", message: "is not valid JSON: \(error)")
        }
        guard case .object = document else {
            throw ConfigurationError(source: source, key: "(file)", message: "must hold a JSON object")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        for (keyPath, value) in document.leaves() {
            guard let key = ConfigurationKey.named(keyPath) else {
                throw ConfigurationError(source: source, key: keyPath, message: "is not a configuration key (see `pillarbox config keys`)")
            }
            // Paths in the file are relative to the file, so it can move with its directory.
            var value = value
            if Self.pathKeys.contains(keyPath), case .string(let text) = value, !text.isEmpty, !text.hasPrefix("/") {
                value = .string(base.appendingPathComponent(text).standardizedFileURL.path)
            }
            try apply(key, .json(value), source: source, to: &configuration)
        }
    }

    private static let pathKeys: Set = ["dataDirectory", "keyDirectory", "tls.certificate", "tls.key"]

    private func apply(_ key: ConfigurationKey, _ value: ConfigurationValue, source: String,
                       to configuration: inout BootstrapConfiguration) throws {
        do {
            try key.apply(&configuration, value)
        } catch {
            throw ConfigurationError(source: source, key: key.path, message: error.message)
        }
    }

    private func validate(_ configuration: BootstrapConfiguration) throws {
        switch (configuration.tls.certificate, configuration.tls.key) {
        case (.some, nil):
            throw ConfigurationError(source: "configuration", key: "tls.key", message: "must be set when tls.certificate is")
        case (nil, .some):
            throw ConfigurationError(source: "configuration", key: "tls.certificate", message: "must be set when tls.key is")
        case (.some(let certificate), .some(let key)):
            for (path, file) in [("tls.certificate", certificate), ("tls.key", key)]
            where !FileManager.default.isReadableFile(atPath: absolute(file)) {
                throw ConfigurationError(source: "configuration", key: path, message: "\(file) cannot be read")
            }
        case (nil, nil):
            break
        }
        do {
            try configuration.listeners.validate()
        } catch {
            throw ConfigurationError(source: "configuration", key: "listeners.\(error.second.rawValue)", message: error.description)
        }
    }

    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: workingDirectory).appendingPathComponent(path).standardizedFileURL.path
    }
}
