//! docker-compose.yml cannot run here (no Docker): its commands are checked
//! against the binaries instead, so that a renamed flag or subcommand
//! breaks this test rather than a user's cluster.

use std::path::Path;
use std::process::Command;

/// Each service's name and command (a JSON array on its `command:` line).
fn services(compose: &str) -> Vec<(String, Vec<String>)> {
    let mut services = Vec::new();
    let mut current: Option<String> = None;
    let mut in_services = false;
    for line in compose.lines() {
        let trimmed = line.trim_end();
        if trimmed.is_empty() || trimmed.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') {
            in_services = trimmed == "services:";
            current = None;
            continue;
        }
        if !in_services {
            continue;
        }
        if line.starts_with("  ") && !line.starts_with("   ") {
            current = Some(trimmed.trim().trim_end_matches(':').to_string());
        } else if let (Some(name), Some(json)) = (&current, trimmed.trim().strip_prefix("command:")) {
            let command: Vec<String> = serde_json::from_str(json.trim())
                .unwrap_or_else(|e| panic!("service {name}: command is not a one-line JSON array ({e})"));
            services.push((name.clone(), command));
        }
    }
    services
}

fn help(binary: &str, subcommand: Option<&str>) -> String {
    let path = match binary {
        "nodefusion-cluster" => env!("CARGO_BIN_EXE_nodefusion-cluster"),
        "nodefusion-retrieval" => env!("CARGO_BIN_EXE_nodefusion-retrieval"),
        other => panic!("docker-compose.yml runs '{other}', which this project does not build"),
    };
    let mut command = Command::new(path);
    command.args(subcommand).arg("--help");
    let out = command.output().unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(out.status.success(), "{binary} {subcommand:?} --help failed: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_command_subcommand_and_flag_of_the_compose_file_exists() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker-compose.yml");
    let compose = std::fs::read_to_string(&path).unwrap();
    let services = services(&compose);
    let names: Vec<&str> = services.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["scheduler", "executor-1", "executor-2", "job"]);
    for (name, command) in &services {
        let (binary, rest) = command.split_first().expect("a command");
        let subcommand = (binary == "nodefusion-cluster").then(|| rest[0].as_str());
        let text = help(binary, subcommand);
        for flag in rest.iter().filter(|a| a.starts_with("--")) {
            assert!(
                text.contains(&format!("{flag} ")) || text.contains(&format!("{flag}\n")),
                "service {name}: {binary} {} has no flag {flag}",
                subcommand.unwrap_or("")
            );
        }
    }
    // Executors advertise the name the others reach them by, and the job
    // talks to the scheduler by its service name.
    for (name, command) in services.iter().filter(|(n, _)| n.starts_with("executor")) {
        let at = command
            .iter()
            .position(|a| a == "--external-host")
            .expect("--external-host");
        assert_eq!(&command[at + 1], name);
    }
    let job = &services[3].1;
    assert!(job.iter().any(|a| a == "df://scheduler:50050"), "{job:?}");
}

#[test]
fn the_dockerfile_builds_the_binaries_the_compose_file_runs() {
    let dockerfile = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Dockerfile")).unwrap();
    for binary in ["nodefusion-cluster", "nodefusion-retrieval"] {
        assert!(dockerfile.contains(&format!("--bin {binary}")), "{binary}");
    }
}
