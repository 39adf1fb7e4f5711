//! Sqitch projects among `crate::formats`: migcheck reads the plan itself and runs every
//! script through the engine's client (`runner`).

use std::path::Path;

use super::chain::{is_project, load, BLOCKING};
use super::conf::Config;
use super::runner::{ChangeScripts, SqitchRunner, Variables};
use crate::chain::{Chain, DiscoverOptions, Format};
use crate::engine::Dialect;
use crate::error::{Error, Result};
use crate::formats::{ChainFormat, History, LoadOptions, Loaded};

pub struct SqitchFormat;

impl ChainFormat for SqitchFormat {
    fn claims(&self, path: &Path, forced: Option<Format>) -> bool {
        match forced {
            Some(format) => format == Format::Sqitch,
            None => is_project(path),
        }
    }

    fn read(&self, path: &Path, options: &DiscoverOptions) -> Result<Chain> {
        Ok(load(path, options)?.chain)
    }

    fn load(&self, path: &Path, options: &LoadOptions) -> Result<Loaded> {
        let project = load(path, &options.discover)?;
        let engine = options.discover.engine();
        let wanted = match engine.dialect() {
            Dialect::Postgres => "pg",
            Dialect::Mysql => "mysql",
        };
        if let Some(declared) = project.engine.as_deref().filter(|e| *e != wanted) {
            return Err(Error::input(
                project.root.join("sqitch.conf"),
                None,
                format!(
                    "this Sqitch project's engine is {declared}, but --engine {} was asked for: \
                     its scripts are written for {declared}",
                    engine.name()
                ),
            ));
        }
        let config = match project.root.join("sqitch.conf") {
            conf if conf.is_file() => Config::read(&conf)?,
            _ => Config::default(),
        };
        let variables = Variables::from_config(&config, wanted, project.target.as_deref());
        let scripts = project
            .changes
            .iter()
            .map(|c| ChangeScripts {
                deploy: c.deploy.clone(),
                revert: c.revert.is_file().then(|| c.revert.clone()),
                verify: c.verify.is_file().then(|| c.verify.clone()),
            })
            .collect();
        let runner = SqitchRunner::new(
            &project.root,
            project.client.clone(),
            project.registry.clone(),
            scripts,
            variables,
            &options.runner,
        );
        Ok(Loaded {
            chain: project.chain,
            runner: Box::new(runner),
            blocking: BLOCKING,
            history: History::NotJudged("the history rules do not read Sqitch plans yet"),
        })
    }
}
