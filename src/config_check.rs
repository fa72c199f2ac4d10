//! `going -n`: reads the service directory as going would (service files,
//! Procfiles and `.env`, users and groups, log directories, `after=` cycles)
//! and tells every error on stderr in going's own form, starting nothing and
//! touching no run directory. Like `nginx -t`: a configuration run or a
//! Dockerfile checks files before they go live.

use crate::config::ServiceSpec;
use crate::log::{Logger, Severity};
use crate::service_dir::{self, Scope, ToldErrors};
use crate::start_order::order_problems;
use crate::supervisor::Scanned;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::CStr;

/// sysexits(3): the input data was incorrect.
pub const EXIT_DATA_ERROR: i32 = 65;

/// Checks directory `dir`; returns 0 when every file would be accepted, else [`EXIT_DATA_ERROR`].
pub fn check(dir: &CStr) -> i32 {
    let mut logger = Logger::stderr_only();
    let shown = dir.to_string_lossy();
    let mut scan = match service_dir::scan(dir, Scope::EVERYTHING, &mut ToldErrors::default(), &mut logger) {
        Ok(scan) => scan,
        Err(error) => {
            logger.log(Severity::Error, format_args!("{shown}: {error}"));
            return EXIT_DATA_ERROR;
        }
    };
    scan.services.sort_unstable_by(crate::supervisor::by_name);
    let specs: Vec<(&str, &ServiceSpec)> = (scan.services.iter())
        .filter_map(|(name, scanned)| match scanned {
            Scanned::Valid(spec) => Some((name.as_str(), &**spec)),
            Scanned::Unread | Scanned::Refused(_) => None,
        })
        .collect();
    let spec_of = |name: &str| specs.binary_search_by(|(other, _)| (*other).cmp(name)).ok().map(|at| specs[at].1);
    let ordered: Vec<String> =
        specs.iter().filter(|(_, spec)| !spec.after().is_empty()).map(|(name, _)| String::from(*name)).collect();
    for (severity, line) in order_problems(&ordered, spec_of) {
        logger.log(severity, format_args!("{line}"));
    }
    let (count, errors) = (specs.len(), logger.errors());
    let services = if count == 1 { "service" } else { "services" };
    match errors {
        0 => {
            logger.log(Severity::Info, format_args!("{shown}: {count} {services}, no errors"));
            0
        }
        _ => {
            let errors = if errors == 1 { "1 error" } else { &alloc::format!("{errors} errors") };
            logger.log(Severity::Info, format_args!("{shown}: {count} {services} accepted, {errors}"));
            EXIT_DATA_ERROR
        }
    }
}
