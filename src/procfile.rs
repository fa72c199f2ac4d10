//! Procfiles: a foreman-style app (`web: gunicorn app:app`) run under going.
//!
//! A service file with `procfile=PATH` instead of `cmd=` becomes one service
//! per process type, named `FILE.TYPE`. Pure: the texts of the Procfile and
//! its `.env` in, specs out; `service_dir` reads the files.
//!
//! As foreman does, each command runs as `/bin/sh -c COMMAND` (Procfiles use
//! `$PORT` and `&&`), in the Procfile's directory unless `cwd=` says
//! otherwise, with the `.env` variables and `PORT` = 5000 + 100 × the process
//! type's index unless `.env` or `env=` sets it.

use crate::config::{ConfigError, LogTarget, ProcfileApp, ServiceSpec, content_lines, set_latest};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// foreman's first PORT and its step between process types.
pub const FIRST_PORT: u32 = 5000;
pub const PORT_STEP: u32 = 100;

/// One `NAME: COMMAND` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessType {
    pub name: String,
    pub command: String,
    /// Its line in the Procfile, for errors.
    pub line: usize,
}

/// The process types of a Procfile, in order.
pub fn parse_procfile(text: &str) -> Result<Vec<ProcessType>, ConfigError> {
    let mut types: Vec<ProcessType> = Vec::new();
    for said in content_lines(text) {
        let (line, content) = said?;
        let Some((name, command)) = content.split_once(':') else {
            return Err(ConfigError::at(line, "expected NAME: COMMAND"));
        };
        let (name, command) = (name.trim(), command.trim());
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(ConfigError::at(
                line,
                format!("bad process type name \"{name}\"; use letters, digits, _ and -"),
            ));
        }
        if command.is_empty() {
            return Err(ConfigError::at(line, format!("process type \"{name}\" has no command")));
        }
        if types.iter().any(|t| t.name == name) {
            return Err(ConfigError::at(line, format!("duplicate process type \"{name}\"")));
        }
        types.push(ProcessType { name: name.into(), command: command.into(), line });
    }
    Ok(types)
}

/// foreman's `.env`: `KEY=VALUE` lines, an optional `export `, single or
/// double quotes around the value, `#` comment lines.
pub fn parse_dotenv(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut variables: Vec<(String, String)> = Vec::new();
    for said in content_lines(text) {
        let (line, content) = said?;
        let content = content.strip_prefix("export ").unwrap_or(content);
        let Some((name, value)) = content.split_once('=') else {
            return Err(ConfigError::at(line, "expected NAME=VALUE"));
        };
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(ConfigError::at(line, format!("bad variable name \"{name}\"")));
        }
        let value = unquote(value.trim()).map_err(|message| ConfigError::at(line, message))?;
        set_latest(&mut variables, name.into(), value);
    }
    Ok(variables)
}

fn unquote(value: &str) -> Result<String, &'static str> {
    let quoted = |quote: char| value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote);
    if quoted('\'') {
        return Ok(value[1..value.len() - 1].to_string());
    }
    if !quoted('"') {
        if value.starts_with(['"', '\'']) {
            return Err("unterminated quote");
        }
        return Ok(value.to_string());
    }
    let mut text = String::new();
    let mut chars = value[1..value.len() - 1].chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => text.push('\n'),
                Some(escaped) => text.push(escaped),
                None => text.push('\\'),
            },
            (c, false) => text.push(c),
        }
    }
    Ok(text)
}

/// The service a process type of an app runs as: `shop.web` for type `web` of the
/// service file `shop`.
pub fn process_name(app: &str, kind: &str) -> String {
    format!("{app}.{kind}")
}

/// What the names of an app's processes start with: `shop.`.
pub fn process_prefix(app: &str) -> String {
    format!("{app}.")
}

/// `PATH` with `.NAME` before its extension: `/var/log/app.log` → `/var/log/app.web.log`.
pub fn log_path_for(path: &str, name: &str) -> String {
    let file_start = path.rfind('/').map_or(0, |slash| slash + 1);
    match path[file_start..].rfind('.') {
        Some(dot) if dot > 0 => format!("{}.{name}{}", &path[..file_start + dot], &path[file_start + dot..]),
        _ => format!("{path}.{name}"),
    }
}

/// One spec per process type: the app's keys with the command, the
/// directory, the environment and the log of that process.
pub fn expand(
    app: &ProcfileApp,
    procfile_dir: &str,
    types: &[ProcessType],
    dotenv: &[(String, String)],
) -> Vec<(ProcessType, ServiceSpec)> {
    let file_env = &app.settings.env;
    types
        .iter()
        .enumerate()
        .map(|(index, process)| {
            let mut settings = app.settings.clone();
            let mut env = dotenv.to_vec();
            let port_set = |name: &str| name == "PORT";
            if !dotenv.iter().chain(file_env.iter()).any(|(name, _)| port_set(name)) {
                env.push(("PORT".into(), (FIRST_PORT + PORT_STEP * index as u32).to_string()));
            }
            for (name, value) in file_env {
                set_latest(&mut env, name.clone(), value.clone());
            }
            settings.env = env;
            if let Some(LogTarget::File { path, .. }) = &mut settings.log {
                *path = log_path_for(path, &process.name);
            }
            settings.cwd = crate::config::compact_cwd(app.settings.cwd.as_deref().unwrap_or(procfile_dir));
            let argv = crate::config::Words::new(&["/bin/sh", "-c", &process.command]);
            (process.clone(), ServiceSpec::new(argv, settings))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(bytes: &[u8]) -> ProcfileApp {
        match crate::config::parse(bytes).unwrap() {
            crate::config::ServiceFile::Procfile(app) => *app,
            other => panic!("not a procfile= file: {other:?}"),
        }
    }

    #[test]
    fn procfile_lines_become_process_types_in_order() {
        let types =
            parse_procfile("# app\nweb: gunicorn app:app --bind 0.0.0.0:$PORT\n\nworker:celery -A app worker\n")
                .unwrap();
        let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["web", "worker"]);
        assert_eq!(types[0].command, "gunicorn app:app --bind 0.0.0.0:$PORT");
        assert_eq!(types[1].line, 4);
    }

    #[test]
    fn procfile_errors_name_their_line() {
        assert_eq!(parse_procfile("web: a\nno colon\n").unwrap_err(), ConfigError::at(2, "expected NAME: COMMAND"));
        assert_eq!(parse_procfile("we b: a\n").unwrap_err().line, 1);
        assert_eq!(
            parse_procfile("web: a\nweb: b\n").unwrap_err(),
            ConfigError::at(2, "duplicate process type \"web\"")
        );
        assert_eq!(parse_procfile("web:\n").unwrap_err(), ConfigError::at(1, "process type \"web\" has no command"));
    }

    #[test]
    fn dotenv_takes_export_quotes_and_comments() {
        let text = "# settings\nexport A=1\nB='two words'\nC=\"line\\nbreak \\\"q\\\"\"\nD = spaced \nA=3\n";
        let variables = parse_dotenv(text).unwrap();
        let expected = [("B", "two words"), ("C", "line\nbreak \"q\""), ("D", "spaced"), ("A", "3")];
        assert_eq!(variables, expected.map(|(n, v)| (n.to_string(), v.to_string())));
        assert_eq!(parse_dotenv("A='open\n").unwrap_err(), ConfigError::at(1, "unterminated quote"));
        assert_eq!(parse_dotenv("junk\n").unwrap_err(), ConfigError::at(1, "expected NAME=VALUE"));
    }

    #[test]
    fn log_files_get_the_process_name_before_their_extension() {
        assert_eq!(log_path_for("/var/log/app.log", "web"), "/var/log/app.web.log");
        assert_eq!(log_path_for("/var/log/app", "web"), "/var/log/app.web");
        assert_eq!(log_path_for("/var/log.d/app", "web"), "/var/log.d/app.web");
        assert_eq!(log_path_for("/var/log/.app", "web"), "/var/log/.app.web");
    }

    #[test]
    fn expansion_sets_command_directory_port_and_environment() {
        let app =
            app(b"procfile=/srv/app/Procfile\nenv=EXTRA=1\nlog=/var/log/app.log\nrestart=never\nstop_signal=QUIT\nafter=db\nready=fd:3\n");
        let types = parse_procfile("web: serve\nworker: work\n").unwrap();
        let dotenv = parse_dotenv("SECRET=s\n").unwrap();
        let specs = expand(&app, "/srv/app", &types, &dotenv);
        let (web, worker) = (&specs[0].1, &specs[1].1);
        assert_eq!(web.argv, ["/bin/sh", "-c", "serve"]);
        for spec in [web, worker] {
            assert_eq!((spec.policy().restart, spec.policy().signal), (crate::config::Restart::Never, 3));
            assert_eq!(
                (spec.after(), spec.settings().ready),
                (&["db".to_string()][..], crate::config::ReadyWhen::Fd(3))
            );
        }
        assert_eq!(web.cwd(), "/srv/app");
        let env = |s: &ServiceSpec| s.settings().env.clone();
        let pairs =
            |list: &[(&str, &str)]| list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect::<Vec<_>>();
        assert_eq!(env(web), pairs(&[("SECRET", "s"), ("PORT", "5000"), ("EXTRA", "1")]));
        assert_eq!(env(worker), pairs(&[("SECRET", "s"), ("PORT", "5100"), ("EXTRA", "1")]));
        let Some(LogTarget::File { path, .. }) = &worker.settings().log else { panic!() };
        assert_eq!(path, "/var/log/app.worker.log");
    }

    #[test]
    fn port_from_dotenv_or_env_wins() {
        let app = app(b"procfile=/a/Procfile\ncwd=/elsewhere\n");
        let types = parse_procfile("web: serve\n").unwrap();
        let specs = expand(&app, "/a", &types, &parse_dotenv("PORT=8080\n").unwrap());
        assert_eq!(specs[0].1.settings().env, [("PORT".to_string(), "8080".to_string())]);
        assert_eq!(specs[0].1.cwd(), "/elsewhere");
    }
}
