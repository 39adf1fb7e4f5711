//! From SQL text to the lint model. PostgreSQL: libpg_query (`pg_tree`). MySQL/MariaDB:
//! sqlparser's AST where it can read the statement, migcheck's own reading of the valid forms it
//! cannot (`mysql_known`), a keyword-level fallback for the rest (so that a parse failure never
//! hides a DROP TABLE).

use sqlparser::ast::{
    AlterColumnOperation, AlterTableAlgorithm, AlterTableLock, AlterTableOperation, ColumnDef,
    ColumnOption, Expr, FromTable, GeneratedExpressionMode, Ident, ObjectName, ObjectType,
    RenameTableNameKind, Set, Statement, TableConstraint, TableFactor, TableObject,
};
use sqlparser::dialect::{Dialect as SqlDialect, MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::model::{AddColumn, ConstraintKind, Kind, Loc, Name, Op, Stmt};
use crate::engine::Dialect;

fn sql_dialect(dialect: Dialect) -> Box<dyn SqlDialect> {
    match dialect {
        Dialect::Postgres => Box::new(PostgreSqlDialect {}),
        Dialect::Mysql => Box::new(MySqlDialect {}),
    }
}

/// Analyse one statement (as produced by `sql::split`) at `line`/`col` of its file.
pub fn analyse(sql: &str, line: usize, col: usize, dialect: Dialect) -> Stmt {
    let d = sql_dialect(dialect);
    let words = leading_words(sql, d.as_ref(), 8);
    let kind = classify(&words);
    let mut stmt = Stmt {
        sql: sql.to_string(),
        line,
        col,
        kind,
        ops: Vec::new(),
        parse_error: None,
    };
    if dialect == Dialect::Postgres {
        match super::pg_tree::analyse(sql) {
            Ok(ops) => stmt.ops = ops,
            Err(msg) => {
                // The server's own grammar rejects it: report it, and still let the keyword
                // reading show what it would have done.
                stmt.ops = fallback(sql, &words, d.as_ref()).0;
                let at = super::pg_tree::error_loc(sql, &msg);
                stmt.parse_error = Some((msg, at));
            }
        }
        return stmt;
    }
    match Parser::parse_sql(d.as_ref(), sql) {
        Ok(parsed) => {
            for st in &parsed {
                convert(st, &words, &mut stmt.ops);
            }
        }
        Err(e) => {
            let (ops, understood) =
                mysql_known(sql, d.as_ref()).unwrap_or_else(|| fallback(sql, &words, d.as_ref()));
            stmt.ops = ops;
            if !understood {
                let msg = e.to_string();
                let at = error_loc(&msg);
                let msg = msg
                    .strip_prefix("sql parser error: ")
                    .unwrap_or(&msg)
                    .to_string();
                stmt.parse_error = Some((msg, at));
            }
        }
    }
    stmt
}

/// `... at Line: 1, Column: 15` in sqlparser's messages.
fn error_loc(msg: &str) -> Option<Loc> {
    let i = msg.rfind("Line: ")?;
    let rest = &msg[i + 6..];
    let (l, rest) = rest.split_once(", Column: ")?;
    let c: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some(Loc {
        line: l.trim().parse().ok()?,
        col: c.parse().ok()?,
    })
}

/// The first `n` words of a statement, lower-case (quoted identifiers keep their text).
fn leading_words(sql: &str, d: &dyn SqlDialect, n: usize) -> Vec<String> {
    words(sql, d).into_iter().take(n).collect()
}

fn words(sql: &str, d: &dyn SqlDialect) -> Vec<String> {
    match Tokenizer::new(d, sql).tokenize() {
        Ok(tokens) => tokens
            .into_iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(if w.quote_style.is_some() {
                    w.value
                } else {
                    w.value.to_lowercase()
                }),
                Token::Whitespace(_) => None,
                other => Some(other.to_string().to_lowercase()),
            })
            .collect(),
        // Unterminated quote and the like: whitespace words are good enough to classify.
        Err(_) => sql
            .split(|c: char| c.is_whitespace() || c == ';' || c == ',' || c == '(')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect(),
    }
}

fn classify(words: &[String]) -> Kind {
    match words.first().map(String::as_str) {
        Some("create" | "alter" | "drop" | "rename" | "truncate") => Kind::Ddl,
        Some("begin" | "start" | "commit" | "end" | "rollback") => Kind::Transaction,
        Some("set" | "reset") => Kind::Set,
        _ => Kind::Other,
    }
}

fn loc(ident: &Ident) -> Option<Loc> {
    let s = ident.span.start;
    (s.line > 0).then(|| Loc {
        line: usize::try_from(s.line).unwrap_or(1),
        col: usize::try_from(s.column).unwrap_or(1),
    })
}

fn obj(name: &ObjectName) -> Name {
    let at = name.0.first().and_then(|p| p.as_ident()).and_then(loc);
    Name::new(name.to_string(), at)
}

fn ident(i: &Ident) -> Name {
    Name::new(i.to_string(), loc(i))
}

fn lower(x: &impl std::fmt::Display) -> String {
    x.to_string().to_lowercase()
}

fn convert(st: &Statement, words: &[String], out: &mut Vec<Op>) {
    match st {
        Statement::CreateTable(ct) => out.push(Op::CreateTable {
            table: obj(&ct.name),
            columns: ct
                .columns
                .iter()
                .map(|c| (ident(&c.name).key, lower(&c.data_type)))
                .collect(),
        }),
        Statement::CreateIndex(ci) => out.push(Op::CreateIndex {
            name: ci.name.as_ref().map(obj),
            table: obj(&ci.table_name),
            concurrently: ci.concurrently,
            unique: ci.unique,
            fulltext: false,
        }),
        Statement::Drop {
            object_type, names, ..
        } => {
            let names: Vec<Name> = names.iter().map(obj).collect();
            match object_type {
                ObjectType::Table => out.push(Op::DropTable { tables: names }),
                ObjectType::Schema | ObjectType::Database => out.push(Op::DropSchema { names }),
                ObjectType::Index => out.push(Op::DropIndex {
                    concurrently: words.get(2).is_some_and(|w| w == "concurrently"),
                    names,
                }),
                _ => {}
            }
        }
        Statement::Truncate(t) => out.push(Op::Truncate {
            tables: t.table_names.iter().map(|t| obj(&t.name)).collect(),
        }),
        Statement::RenameTable(renames) => {
            for r in renames {
                out.push(Op::RenameTable {
                    from: obj(&r.old_name),
                    to: r.new_name.to_string(),
                });
            }
        }
        Statement::Vacuum(v) if v.full => out.push(Op::VacuumFull {
            table: v.table_name.as_ref().map(obj),
        }),
        Statement::Set(Set::SingleAssignment {
            variable, values, ..
        }) => out.push(Op::SetVar {
            name: lower(variable),
            value: values
                .iter()
                .map(|v| lower(v).trim_matches('\'').to_string())
                .collect::<Vec<_>>()
                .join(","),
        }),
        Statement::StartTransaction { .. } => out.push(Op::Begin),
        Statement::Commit { .. } | Statement::Rollback { .. } => out.push(Op::Commit),
        Statement::Delete(d) => {
            let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &d.from;
            for t in from {
                if let TableFactor::Table { name, .. } = &t.relation {
                    out.push(Op::Delete {
                        table: obj(name),
                        all_rows: d.selection.is_none() && d.using.is_none(),
                    });
                }
            }
        }
        Statement::Insert(i) => {
            if let TableObject::TableName(name) = &i.table {
                out.push(Op::Insert { table: obj(name) });
            }
        }
        Statement::AlterTable(at) => {
            let table = obj(&at.name);
            for op in &at.operations {
                alter_op(&table, op, out);
            }
        }
        _ => {}
    }
}

fn alter_op(table: &Name, op: &AlterTableOperation, out: &mut Vec<Op>) {
    let t = || table.clone();
    match op {
        AlterTableOperation::AddColumn { column_def, .. } => {
            out.push(Op::AddColumn(add_column(table, column_def)));
        }
        AlterTableOperation::AddConstraint {
            constraint,
            not_valid,
        } => {
            let (kind, name, not_null_check_of) = match constraint {
                TableConstraint::ForeignKey(c) => {
                    (ConstraintKind::ForeignKey, c.name.as_ref(), None)
                }
                TableConstraint::Check(c) => (
                    ConstraintKind::Check,
                    c.name.as_ref(),
                    is_not_null_check(&c.expr),
                ),
                TableConstraint::Unique(c) => (ConstraintKind::Unique, c.name.as_ref(), None),
                TableConstraint::PrimaryKey(c) => {
                    (ConstraintKind::PrimaryKey, c.name.as_ref(), None)
                }
                TableConstraint::PrimaryKeyUsingIndex(c) | TableConstraint::UniqueUsingIndex(c) => {
                    (ConstraintKind::UsingIndex, c.name.as_ref(), None)
                }
                TableConstraint::Exclude(_) => (ConstraintKind::Exclude, None, None),
                TableConstraint::Index(c) => (ConstraintKind::Index, c.name.as_ref(), None),
                TableConstraint::FulltextOrSpatial(c) => {
                    let kind = if c.fulltext {
                        ConstraintKind::Fulltext
                    } else {
                        ConstraintKind::Index
                    };
                    (kind, c.opt_index_name.as_ref(), None)
                }
            };
            out.push(Op::AddConstraint {
                table: t(),
                kind,
                name: name.map(|n| ident(n).key),
                not_valid: *not_valid,
                not_null_check_of,
            });
        }
        AlterTableOperation::DropColumn { column_names, .. } => {
            for c in column_names {
                out.push(Op::DropColumn {
                    table: t(),
                    column: ident(c),
                });
            }
        }
        AlterTableOperation::DropPrimaryKey { .. } => out.push(Op::DropPrimaryKey { table: t() }),
        AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } => out.push(Op::RenameColumn {
            table: t(),
            from: ident(old_column_name),
            to: new_column_name.to_string(),
        }),
        AlterTableOperation::RenameTable { table_name } => {
            let to = match table_name {
                RenameTableNameKind::As(n) | RenameTableNameKind::To(n) => n.to_string(),
            };
            out.push(Op::RenameTable { from: t(), to });
        }
        AlterTableOperation::ChangeColumn {
            old_name,
            new_name,
            data_type,
            options,
            ..
        } => {
            let from = ident(old_name);
            let to = ident(new_name);
            if from.key != to.key {
                out.push(Op::RenameColumn {
                    table: t(),
                    from: from.clone(),
                    to: new_name.to_string(),
                });
            }
            out.push(Op::AlterType {
                table: t(),
                column: from,
                new_type: lower(data_type),
                charset: options
                    .iter()
                    .any(|o| matches!(o, ColumnOption::CharacterSet(_))),
                using_expression: false,
            });
        }
        AlterTableOperation::ModifyColumn {
            col_name,
            data_type,
            options,
            ..
        } => out.push(Op::AlterType {
            table: t(),
            column: ident(col_name),
            new_type: lower(data_type),
            charset: options
                .iter()
                .any(|o| matches!(o, ColumnOption::CharacterSet(_))),
            using_expression: false,
        }),
        AlterTableOperation::AlterColumn { column_name, op } => match op {
            AlterColumnOperation::SetNotNull => out.push(Op::SetNotNull {
                table: t(),
                column: ident(column_name),
            }),
            AlterColumnOperation::SetDataType { data_type, .. } => out.push(Op::AlterType {
                table: t(),
                column: ident(column_name),
                new_type: lower(data_type),
                charset: false,
                using_expression: false,
            }),
            _ => {}
        },
        AlterTableOperation::ValidateConstraint { name } => out.push(Op::ValidateConstraint {
            table: t(),
            name: ident(name).key,
        }),
        AlterTableOperation::Algorithm { algorithm, .. } => out.push(Op::Algorithm {
            table: t(),
            algorithm: match algorithm {
                AlterTableAlgorithm::Default => "default",
                AlterTableAlgorithm::Instant => "instant",
                AlterTableAlgorithm::Inplace => "inplace",
                AlterTableAlgorithm::Copy => "copy",
            }
            .to_string(),
        }),
        AlterTableOperation::Lock { lock, .. } => out.push(Op::Lock {
            table: t(),
            lock: match lock {
                AlterTableLock::Default => "default",
                AlterTableLock::None => "none",
                AlterTableLock::Shared => "shared",
                AlterTableLock::Exclusive => "exclusive",
            }
            .to_string(),
        }),
        _ => {}
    }
}

/// `col IS NOT NULL` (possibly parenthesised): the column key.
fn is_not_null_check(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Nested(e) => is_not_null_check(e),
        Expr::IsNotNull(e) => match e.as_ref() {
            Expr::Identifier(i) => Some(ident(i).key),
            Expr::CompoundIdentifier(parts) => parts.last().map(|i| ident(i).key),
            _ => None,
        },
        _ => None,
    }
}

fn add_column(table: &Name, def: &ColumnDef) -> AddColumn {
    let mut a = AddColumn {
        table: table.clone(),
        column: ident(&def.name),
        data_type: lower(&def.data_type),
        not_null: false,
        default: None,
        stored_generated: false,
        identity: false,
        auto_increment: false,
        primary_key: false,
        unique: false,
        references: false,
    };
    for o in &def.options {
        match &o.option {
            ColumnOption::NotNull => a.not_null = true,
            ColumnOption::Default(e) => {
                let text = lower(e);
                if text != "null" {
                    a.default = Some(text);
                }
            }
            ColumnOption::Generated {
                generation_expr,
                generation_expr_mode,
                ..
            } => {
                if generation_expr.is_some() {
                    // PG only has STORED; MySQL defaults to VIRTUAL.
                    a.stored_generated =
                        matches!(generation_expr_mode, Some(GeneratedExpressionMode::Stored));
                } else {
                    a.identity = true;
                }
            }
            ColumnOption::Identity(_) => a.identity = true,
            ColumnOption::PrimaryKey(_) => {
                a.primary_key = true;
                a.not_null = true;
            }
            ColumnOption::Unique(_) => a.unique = true,
            ColumnOption::ForeignKey(_) => a.references = true,
            ColumnOption::DialectSpecific(tokens)
                if tokens
                    .iter()
                    .any(|t| t.to_string().eq_ignore_ascii_case("auto_increment")) =>
            {
                a.auto_increment = true;
            }
            _ => {}
        }
    }
    a
}

/// MySQL/MariaDB statements sqlparser cannot read whose effect the lint still knows exactly:
/// `(operations, understood)`, or None to leave the statement to the keyword fallback.
fn mysql_known(sql: &str, d: &dyn SqlDialect) -> Option<(Vec<Op>, bool)> {
    let all = words(sql, d);
    let s = |i: usize| all.get(i).map(String::as_str).unwrap_or("");
    match s(0) {
        "create" => {
            // CREATE [OR REPLACE] [DEFINER = u] [AGGREGATE] PROCEDURE|FUNCTION|TRIGGER|EVENT
            // stores a routine: its body runs when called or fired, not when the migration
            // creates it. MariaDB's CREATE SEQUENCE makes a new, empty object.
            let head = all.iter().take_while(|w| {
                !matches!(
                    w.as_str(),
                    "table" | "index" | "view" | "(" | "as" | "begin"
                )
            });
            let stored = head.clone().any(|w| {
                matches!(
                    w.as_str(),
                    "procedure" | "function" | "trigger" | "event" | "sequence"
                )
            });
            stored.then(|| (Vec::new(), true))
        }
        "alter" if s(1) == "sequence" => Some((Vec::new(), true)),
        // `SET @x := 1`: the same assignment with `=` is what sqlparser reads.
        "set" => {
            let ops = Parser::parse_sql(d, &sql.replace(":=", "="))
                .map(|parsed| {
                    let mut ops = Vec::new();
                    for st in &parsed {
                        convert(st, &all, &mut ops);
                    }
                    ops
                })
                .unwrap_or_default();
            Some((ops, true))
        }
        // Dynamic SQL: a literal PREPAREd statement is judged as the statement it holds; one
        // read from a variable cannot be known from the text.
        "prepare" => Some(prepared_literal(sql).map_or_else(
            || (Vec::new(), true),
            |inner| {
                let st = analyse(&inner, 1, 1, Dialect::Mysql);
                let understood = st.parse_error.is_none();
                let ops = st
                    .ops
                    .into_iter()
                    .map(|mut op| {
                        forget_positions(&mut op);
                        op
                    })
                    .collect();
                (ops, understood)
            },
        )),
        "execute" | "deallocate" => Some((Vec::new(), true)),
        "drop" if s(1) == "prepare" => Some((Vec::new(), true)),
        "alter" if s(1) == "table" => {
            // The words after the table name (`db . t` or `t`).
            let rest = if s(3) == "." {
                &all[5.min(all.len())..]
            } else {
                &all[3.min(all.len())..]
            };
            let rest: Vec<&str> = rest
                .iter()
                .map(String::as_str)
                .filter(|w| *w != ";")
                .collect();
            match rest.as_slice() {
                // Metadata only: a comment, the next AUTO_INCREMENT value, an index's name.
                ["comment", ..] | ["auto_increment", ..] if !rest.contains(&",") => {
                    Some((Vec::new(), true))
                }
                ["rename", "index" | "key", _, "to", _] => Some((Vec::new(), true)),
                _ => binary_attribute(sql, d),
            }
        }
        _ => None,
    }
}

/// `MODIFY c VARCHAR(255) BINARY`: the type's BINARY attribute (its character set's binary
/// collation), which sqlparser does not know. Read without it, as a collation change.
fn binary_attribute(sql: &str, d: &dyn SqlDialect) -> Option<(Vec<Op>, bool)> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(r"(?i)\)\s+binary\b").expect("valid regex"));
    if !re.is_match(sql) {
        return None;
    }
    let parsed = Parser::parse_sql(d, &re.replace_all(sql, ")")).ok()?;
    let all = words(sql, d);
    let mut ops = Vec::new();
    for st in &parsed {
        convert(st, &all, &mut ops);
    }
    for op in &mut ops {
        if let Op::AlterType { charset, .. } = op {
            *charset = true;
        }
    }
    Some((ops, true))
}

/// The statement text of `PREPARE name FROM 'text'`, unescaped.
fn prepared_literal(sql: &str) -> Option<String> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r#"(?is)^\s*prepare\s+\S+\s+from\s+'((?:[^'\\]|''|\\.)*)'\s*;?\s*$"#)
            .expect("valid regex")
    });
    let inner = re.captures(sql)?.get(1)?.as_str();
    Some(inner.replace("''", "'").replace("\\'", "'"))
}

/// Positions inside a PREPAREd string are not positions in the file: point at the statement.
fn forget_positions(op: &mut Op) {
    let clear = |n: &mut Name| n.at = None;
    match op {
        Op::AddColumn(a) => {
            clear(&mut a.table);
            clear(&mut a.column);
        }
        Op::DropColumn { table, column }
        | Op::SetNotNull { table, column }
        | Op::AlterType { table, column, .. } => {
            clear(table);
            clear(column);
        }
        Op::RenameColumn { table, from, .. } => {
            clear(table);
            clear(from);
        }
        Op::CreateIndex { table, .. }
        | Op::RenameTable { from: table, .. }
        | Op::AddConstraint { table, .. }
        | Op::ValidateConstraint { table, .. }
        | Op::DropPrimaryKey { table }
        | Op::Algorithm { table, .. }
        | Op::Lock { table, .. }
        | Op::ConvertCharset { table }
        | Op::CreateTable { table, .. }
        | Op::Delete { table, .. }
        | Op::Insert { table } => clear(table),
        Op::DropTable { tables } | Op::Truncate { tables } => tables.iter_mut().for_each(clear),
        Op::DropIndex { names, .. } | Op::DropSchema { names } => names.iter_mut().for_each(clear),
        Op::VacuumFull { table } | Op::Cluster { table } => {
            if let Some(t) = table {
                clear(t);
            }
        }
        Op::Reindex { .. }
        | Op::SetVar { .. }
        | Op::Begin
        | Op::Commit
        | Op::CreateFunction { .. } => {}
    }
}

/// Keyword-level reading of a statement the parser rejected. Returns the operations it found
/// and whether it understood the whole statement (then no parse-error is reported).
fn fallback(sql: &str, w: &[String], d: &dyn SqlDialect) -> (Vec<Op>, bool) {
    let all = words(sql, d);
    let s = |i: usize| all.get(i).map(String::as_str).unwrap_or("");
    let name_at = |i: usize| {
        let mut j = i;
        while matches!(s(j), "if" | "exists" | "not" | "only" | "concurrently") {
            j += 1;
        }
        let mut n = s(j).to_string();
        while s(j + 1) == "." {
            n = format!("{n}.{}", s(j + 2));
            j += 2;
        }
        Name::new(n, None)
    };
    let has = |kw: &str| all.iter().any(|x| x == kw);
    let first = w.first().map(String::as_str).unwrap_or("");
    match first {
        "reindex" => {
            let target = all
                .iter()
                .skip(1)
                .find(|x| {
                    !matches!(
                        x.as_str(),
                        "(" | ")"
                            | "verbose"
                            | "concurrently"
                            | "index"
                            | "table"
                            | "schema"
                            | "database"
                            | "system"
                            | ","
                    )
                })
                .cloned()
                .unwrap_or_default();
            (
                vec![Op::Reindex {
                    target,
                    concurrently: has("concurrently"),
                }],
                true,
            )
        }
        "cluster" => {
            let i = if s(1) == "verbose" { 2 } else { 1 };
            let table = (!s(i).is_empty()).then(|| name_at(i));
            (vec![Op::Cluster { table }], true)
        }
        "vacuum" => {
            if has("full") {
                let last = all.iter().rposition(|x| x != ";" && x != ")");
                let table = last
                    .filter(|&i| !matches!(s(i), "full" | "vacuum" | "verbose" | "analyze"))
                    .map(|i| Name::new(s(i), None));
                (vec![Op::VacuumFull { table }], true)
            } else {
                (Vec::new(), true)
            }
        }
        "drop" => {
            let (ops, understood) = match s(1) {
                "table" | "tables" => (
                    vec![Op::DropTable {
                        tables: vec![name_at(2)],
                    }],
                    false,
                ),
                "schema" | "database" => (
                    vec![Op::DropSchema {
                        names: vec![name_at(2)],
                    }],
                    false,
                ),
                "index" => (
                    vec![Op::DropIndex {
                        names: vec![name_at(2)],
                        concurrently: s(2) == "concurrently",
                    }],
                    s(2) == "concurrently",
                ),
                _ => (Vec::new(), false),
            };
            (ops, understood)
        }
        "truncate" => {
            let i = if s(1) == "table" { 2 } else { 1 };
            (
                vec![Op::Truncate {
                    tables: vec![name_at(i)],
                }],
                false,
            )
        }
        "rename" if s(1) == "table" => (
            vec![Op::RenameTable {
                from: name_at(2),
                to: s(4).to_string(),
            }],
            false,
        ),
        "alter" if s(1) == "table" => {
            let table = name_at(2);
            let mut ops = Vec::new();
            let mut understood = false;
            if has("convert") && has("character") || s(3) == "character" || s(4) == "character" {
                ops.push(Op::ConvertCharset {
                    table: table.clone(),
                });
                understood = true;
            }
            for (i, x) in all.iter().enumerate() {
                if x == "drop" && !matches!(s(i + 1), "constraint" | "index" | "key" | "foreign") {
                    let j = if s(i + 1) == "column" { i + 2 } else { i + 1 };
                    if s(i + 1) == "primary" {
                        ops.push(Op::DropPrimaryKey {
                            table: table.clone(),
                        });
                    } else if !s(j).is_empty() && s(j) != "default" && s(j) != "not" {
                        ops.push(Op::DropColumn {
                            table: table.clone(),
                            column: name_at(j),
                        });
                    }
                }
                if x == "rename" && s(i + 1) == "to" {
                    ops.push(Op::RenameTable {
                        from: table.clone(),
                        to: s(i + 2).to_string(),
                    });
                }
            }
            // `ALTER TABLE t ENGINE=InnoDB` / `FORCE`: an online rebuild, read fully.
            if matches!(s(3), "engine" | "force") && all.len() <= 6 {
                understood = true;
            }
            (ops, understood)
        }
        "create" if matches!(s(1), "fulltext" | "spatial") && s(2) == "index" => {
            match all.iter().position(|x| x == "on") {
                Some(on) => (
                    vec![Op::CreateIndex {
                        name: Some(name_at(3)),
                        table: name_at(on + 1),
                        concurrently: false,
                        unique: false,
                        fulltext: s(1) == "fulltext",
                    }],
                    true,
                ),
                None => (Vec::new(), false),
            }
        }
        "optimize" | "analyze" => (Vec::new(), true),
        _ => (Vec::new(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(sql: &str) -> Stmt {
        analyse(sql, 1, 1, Dialect::Postgres)
    }

    #[test]
    fn add_column_details() {
        let s = pg("ALTER TABLE public.users ADD COLUMN status text NOT NULL DEFAULT 'new'");
        assert!(s.parse_error.is_none());
        match &s.ops[..] {
            [Op::AddColumn(a)] => {
                assert_eq!(a.table.key, "users");
                assert_eq!(a.table.display, "public.users");
                assert_eq!(a.column.key, "status");
                assert!(a.not_null);
                assert_eq!(a.default.as_deref(), Some("'new'"));
                assert_eq!(a.column.at, Some(Loc { line: 1, col: 37 }));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parse_error_has_location_and_fallback_sees_drop() {
        let s = pg("DROP TABLE users CASCADE WHATEVER");
        let (msg, at) = s.parse_error.clone().unwrap();
        assert!(msg.contains("syntax error"), "{msg}");
        assert!(at.is_some());
        assert!(matches!(&s.ops[..], [Op::DropTable { tables }] if tables[0].key == "users"));
    }

    #[test]
    fn fallback_understands_reindex_cluster_drop_concurrently() {
        let s = pg("REINDEX INDEX CONCURRENTLY idx");
        assert!(s.parse_error.is_none());
        assert!(
            matches!(&s.ops[..], [Op::Reindex { concurrently: true, target }] if target == "idx")
        );
        let s = pg("CLUSTER users USING users_pkey");
        assert!(matches!(&s.ops[..], [Op::Cluster { table: Some(t) }] if t.key == "users"));
        let s = pg("DROP INDEX CONCURRENTLY IF EXISTS idx");
        assert!(s.parse_error.is_none());
        assert!(
            matches!(&s.ops[..], [Op::DropIndex { concurrently: true, names }] if names[0].key == "idx")
        );
        let s = pg("DROP INDEX idx");
        assert!(matches!(
            &s.ops[..],
            [Op::DropIndex {
                concurrently: false,
                ..
            }]
        ));
    }

    #[test]
    fn mysql_convert_charset() {
        let s = analyse(
            "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4",
            3,
            1,
            Dialect::Mysql,
        );
        assert!(s.parse_error.is_none());
        assert!(matches!(&s.ops[..], [Op::ConvertCharset { table }] if table.key == "t"));
    }

    fn my(sql: &str) -> Stmt {
        analyse(sql, 1, 1, Dialect::Mysql)
    }

    #[test]
    fn mysql_routines_variables_and_dynamic_sql_are_read() {
        for sql in [
            "CREATE PROCEDURE p()\nBEGIN\n  DROP TABLE users;\nEND",
            "CREATE DEFINER=`root`@`%` FUNCTION f(x int) RETURNS int DETERMINISTIC\nBEGIN RETURN x; END",
            "CREATE TRIGGER t AFTER INSERT ON a FOR EACH ROW UPDATE b SET n = n + 1",
            "SET @x := 1, @y := 2",
            "EXECUTE stmt USING @x",
            "DEALLOCATE PREPARE stmt",
            "DROP PREPARE stmt",
            "PREPARE stmt FROM @ddl",
            "ALTER TABLE users COMMENT = 'people'",
            "ALTER TABLE db.users RENAME INDEX a TO b",
            "CREATE SEQUENCE s START WITH 1 INCREMENT BY 5",
            "ALTER TABLE t MODIFY COLUMN code VARCHAR(255) BINARY",
        ] {
            let st = my(sql);
            assert!(st.parse_error.is_none(), "{sql}: {:?}", st.parse_error);
        }
        // A routine's body runs when called, not when the migration creates it.
        assert!(my("CREATE PROCEDURE p()\nBEGIN\n  DROP TABLE users;\nEND")
            .ops
            .is_empty());
        // A literal prepared statement is judged as what it holds.
        let st = my("PREPARE s FROM 'ALTER TABLE users ADD COLUMN a int NOT NULL'");
        assert!(
            matches!(&st.ops[..], [Op::AddColumn(a)] if a.not_null && a.column.at.is_none()),
            "{:?}",
            st.ops
        );
        assert!(matches!(
            &my("ALTER TABLE t MODIFY COLUMN code VARCHAR(32) BINARY NOT NULL").ops[..],
            [Op::AlterType { charset: true, new_type, .. }] if new_type == "varchar(32)"
        ));
        // `:=` assignments keep what rules read.
        assert!(matches!(
            &my("SET SESSION lock_wait_timeout := 5").ops[..],
            [Op::SetVar { name, value }] if name.ends_with("lock_wait_timeout") && value == "5"
        ));
    }

    #[test]
    fn classify_kinds() {
        assert_eq!(pg("SET lock_timeout = '5s'").kind, Kind::Set);
        assert_eq!(pg("CREATE TABLE t (a int)").kind, Kind::Ddl);
        assert_eq!(pg("INSERT INTO t VALUES (1)").kind, Kind::Other);
        assert_eq!(pg("BEGIN").kind, Kind::Transaction);
        match &pg("SET lock_timeout = '5s'").ops[..] {
            [Op::SetVar { name, value }] => {
                assert_eq!(name, "lock_timeout");
                assert_eq!(value, "5s");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "",
            ";",
            "'",
            "$$",
            "ALTER",
            "ALTER TABLE",
            "DROP",
            "((((",
            "é ü",
        ] {
            let _ = pg(s);
            let _ = analyse(s, 1, 1, Dialect::Mysql);
        }
    }
}
