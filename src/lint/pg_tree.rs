//! PostgreSQL statements through libpg_query (the `pg_query` crate): the server's own grammar,
//! so a statement parses here exactly when PostgreSQL's parser accepts it. Its parse tree is
//! converted into the lint model; everything the model does not describe is ignored.

use pg_query::protobuf::{
    AlterTableCmd, AlterTableType, ColumnDef, ConstrType, Constraint, DropStmt, NullTestType,
    ObjectType, RangeVar, RenameStmt, TransactionStmtKind, TypeName, VariableSetKind,
    VariableSetStmt,
};
use pg_query::{Node, NodeEnum};

use super::model::{AddColumn, ConstraintKind, Loc, Name, Op};

/// The operations of `sql` (one or more statements), or the parser's message.
pub fn analyse(sql: &str) -> Result<Vec<Op>, String> {
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).map_err(|e| match e {
        pg_query::Error::Parse(m) => m,
        other => other.to_string(),
    })?;
    let mut out = Vec::new();
    let cx = Text { sql };
    for raw in &parsed.protobuf.stmts {
        if let Some(node) = raw.stmt.as_ref().and_then(|n| n.node.as_ref()) {
            cx.statement(node, &mut out);
        }
    }
    Ok(out)
}

/// Where, in the statement, libpg_query's error points: the token it names when that token
/// occurs exactly once (its messages carry no position through the crate).
pub fn error_loc(sql: &str, msg: &str) -> Option<Loc> {
    let token = msg.split("at or near \"").nth(1)?.strip_suffix('"')?;
    let lower = sql.to_lowercase();
    let t = token.to_lowercase();
    let mut hits = lower.match_indices(&t);
    let (first, _) = hits.next()?;
    hits.next().is_none().then(|| loc_at(sql, first))
}

/// A byte offset in `sql` as a 1-based line and column (in characters).
fn loc_at(sql: &str, byte: usize) -> Loc {
    let before = &sql[..byte.min(sql.len())];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    Loc {
        line,
        col: before[start..].chars().count() + 1,
    }
}

fn sval(n: &Node) -> Option<&str> {
    match n.node.as_ref()? {
        NodeEnum::String(s) => Some(&s.sval),
        _ => None,
    }
}

/// `a.b.c` from a list of String nodes.
fn dotted(nodes: &[Node]) -> String {
    nodes.iter().filter_map(sval).collect::<Vec<_>>().join(".")
}

/// A type as the lint model spells it: `varchar(20)`, `integer`, `timestamptz`, `text[]`.
pub fn type_text(t: &TypeName) -> String {
    let names: Vec<&str> = t.names.iter().filter_map(sval).collect();
    let base = match names.as_slice() {
        ["pg_catalog", b] => match *b {
            "int4" => "integer",
            "int8" => "bigint",
            "int2" => "smallint",
            "bool" => "boolean",
            "float8" => "double precision",
            "float4" => "real",
            "bpchar" => "character",
            other => other,
        }
        .to_string(),
        _ => names.join("."),
    };
    let mods: Vec<String> = t
        .typmods
        .iter()
        .filter_map(|m| match m.node.as_ref()? {
            NodeEnum::AConst(c) => match c.val.as_ref()? {
                pg_query::protobuf::a_const::Val::Ival(i) => Some(i.ival.to_string()),
                pg_query::protobuf::a_const::Val::Sval(s) => Some(s.sval.clone()),
                pg_query::protobuf::a_const::Val::Fval(f) => Some(f.fval.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let mut s = base;
    if !mods.is_empty() {
        s = format!("{s}({})", mods.join(","));
    }
    for _ in &t.array_bounds {
        s.push_str("[]");
    }
    s
}

/// An expression as SQL text (lower-case), through libpg_query's deparser.
fn expr_text(expr: &Node) -> Option<String> {
    use pg_query::protobuf::{LimitOption, ResTarget, SelectStmt, SetOperation};
    let select = NodeEnum::SelectStmt(Box::new(SelectStmt {
        target_list: vec![Node {
            node: Some(NodeEnum::ResTarget(Box::new(ResTarget {
                val: Some(Box::new(expr.clone())),
                ..Default::default()
            }))),
        }],
        // Zero is no valid value of these enums (libpg_query asserts on it).
        limit_option: LimitOption::Default as i32,
        op: SetOperation::SetopNone as i32,
        ..Default::default()
    }));
    let text = select.deparse(Default::default()).ok()?;
    Some(text.strip_prefix("SELECT ").unwrap_or(&text).to_lowercase())
}

/// A literal setting value as `SET` received it.
fn const_text(n: &Node) -> Option<String> {
    use pg_query::protobuf::a_const::Val;
    match n.node.as_ref()? {
        NodeEnum::AConst(c) => Some(match c.val.as_ref()? {
            Val::Ival(i) => i.ival.to_string(),
            Val::Fval(f) => f.fval.clone(),
            Val::Sval(s) => s.sval.clone(),
            Val::Boolval(b) => b.boolval.to_string(),
            Val::Bsval(b) => b.bsval.clone(),
        }),
        NodeEnum::TypeCast(c) => c.arg.as_deref().and_then(const_text),
        _ => None,
    }
}

struct Text<'a> {
    sql: &'a str,
}

impl Text<'_> {
    fn at(&self, location: i32) -> Option<Loc> {
        usize::try_from(location)
            .ok()
            .filter(|&b| b < self.sql.len() && self.sql.is_char_boundary(b))
            .map(|b| loc_at(self.sql, b))
    }

    fn table(&self, rv: &RangeVar) -> Name {
        let display = if rv.schemaname.is_empty() {
            rv.relname.clone()
        } else {
            format!("{}.{}", rv.schemaname, rv.relname)
        };
        Name::new(display, self.at(rv.location))
    }

    /// Byte offset of `word`'s first occurrence as a whole word (case-insensitive) from `from`.
    fn find_word(&self, word: &str, from: usize) -> Option<usize> {
        let start = from.min(self.sql.len());
        let hay = self.sql.get(start..)?.to_ascii_lowercase();
        let needle = word.to_ascii_lowercase();
        if needle.is_empty() {
            return None;
        }
        let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        hay.match_indices(&needle)
            .find(|(i, _)| {
                let before = hay.as_bytes().get(i.wrapping_sub(1)).copied();
                let after = hay.as_bytes().get(i + needle.len()).copied();
                !before.is_some_and(is_word) && !after.is_some_and(is_word)
            })
            .map(|(i, _)| start + i)
    }

    /// A column named by an ALTER TABLE subcommand (which carries no position): its first
    /// occurrence as a word after `from`.
    fn column(&self, name: &str, from: i32) -> Name {
        let at = self
            .find_word(name, usize::try_from(from).unwrap_or(0))
            .filter(|&b| self.sql.is_char_boundary(b))
            .map(|b| loc_at(self.sql, b));
        Name::new(name, at)
    }

    fn statement(&self, node: &NodeEnum, out: &mut Vec<Op>) {
        match node {
            NodeEnum::CreateStmt(c) => {
                if let Some(rv) = &c.relation {
                    let columns = c
                        .table_elts
                        .iter()
                        .filter_map(|e| match e.node.as_ref()? {
                            NodeEnum::ColumnDef(d) => Some((
                                Name::new(d.colname.clone(), None).key,
                                d.type_name.as_ref().map(type_text).unwrap_or_default(),
                            )),
                            _ => None,
                        })
                        .collect();
                    out.push(Op::CreateTable {
                        table: self.table(rv),
                        columns,
                    });
                }
            }
            // CREATE TABLE AS / CREATE MATERIALIZED VIEW: a new relation, empty to the others.
            NodeEnum::CreateTableAsStmt(c) => {
                if let Some(rv) = c.into.as_ref().and_then(|i| i.rel.as_ref()) {
                    out.push(Op::CreateTable {
                        table: self.table(rv),
                        columns: Vec::new(),
                    });
                }
            }
            NodeEnum::IndexStmt(i) => {
                if let Some(rv) = &i.relation {
                    out.push(Op::CreateIndex {
                        name: (!i.idxname.is_empty()).then(|| Name::new(i.idxname.clone(), None)),
                        table: self.table(rv),
                        concurrently: i.concurrent,
                        unique: i.unique,
                        fulltext: false,
                    });
                }
            }
            NodeEnum::DropStmt(d) => self.drop(d, out),
            NodeEnum::CreateFunctionStmt(f) if !f.is_procedure => {
                let declared = f.options.iter().find_map(|o| match o.node.as_ref()? {
                    NodeEnum::DefElem(d) if d.defname == "volatility" => {
                        d.arg.as_deref().and_then(sval).map(str::to_string)
                    }
                    _ => None,
                });
                out.push(Op::CreateFunction {
                    name: f
                        .funcname
                        .last()
                        .and_then(sval)
                        .unwrap_or("")
                        .to_lowercase(),
                    volatile: declared.is_none_or(|v| v == "volatile"),
                });
            }
            NodeEnum::TruncateStmt(t) => out.push(Op::Truncate {
                tables: t
                    .relations
                    .iter()
                    .filter_map(|r| match r.node.as_ref()? {
                        NodeEnum::RangeVar(rv) => Some(self.table(rv)),
                        _ => None,
                    })
                    .collect(),
            }),
            NodeEnum::RenameStmt(r) => self.rename(r, out),
            NodeEnum::VacuumStmt(v) => {
                let full = v.is_vacuumcmd
                    && v.options.iter().any(|o| {
                        matches!(o.node.as_ref(), Some(NodeEnum::DefElem(d))
                            if d.defname == "full"
                                && d.arg.as_deref().and_then(const_text)
                                    .is_none_or(|a| !matches!(a.as_str(), "false" | "off" | "0")))
                    });
                if full {
                    let tables: Vec<Name> = v
                        .rels
                        .iter()
                        .filter_map(|r| match r.node.as_ref()? {
                            NodeEnum::VacuumRelation(vr) => vr.relation.as_ref(),
                            _ => None,
                        })
                        .map(|rv| self.table(rv))
                        .collect();
                    if tables.is_empty() {
                        out.push(Op::VacuumFull { table: None });
                    }
                    for t in tables {
                        out.push(Op::VacuumFull { table: Some(t) });
                    }
                }
            }
            NodeEnum::ClusterStmt(c) => out.push(Op::Cluster {
                table: c.relation.as_ref().map(|rv| self.table(rv)),
            }),
            NodeEnum::ReindexStmt(r) => out.push(Op::Reindex {
                target: match &r.relation {
                    Some(rv) => self.table(rv).display,
                    None => r.name.clone(),
                },
                concurrently: r.params.iter().any(|p| {
                    matches!(p.node.as_ref(), Some(NodeEnum::DefElem(d)) if d.defname == "concurrently")
                }),
            }),
            NodeEnum::VariableSetStmt(v) => set_var(v, out),
            NodeEnum::TransactionStmt(t) => match t.kind() {
                TransactionStmtKind::TransStmtBegin | TransactionStmtKind::TransStmtStart => {
                    out.push(Op::Begin);
                }
                TransactionStmtKind::TransStmtCommit | TransactionStmtKind::TransStmtRollback => {
                    out.push(Op::Commit);
                }
                _ => {}
            },
            NodeEnum::AlterTableStmt(a) if a.objtype() == ObjectType::ObjectTable => {
                if let Some(rv) = &a.relation {
                    let table = self.table(rv);
                    // Subcommands come in text order: each names its column after the last.
                    let mut cursor = usize::try_from(rv.location).unwrap_or(0);
                    for cmd in &a.cmds {
                        if let Some(NodeEnum::AlterTableCmd(c)) = cmd.node.as_ref() {
                            let from = cursor;
                            if let Some(b) = self.find_word(&c.name, cursor) {
                                cursor = b + c.name.len();
                            }
                            self.alter(&table, i32::try_from(from).unwrap_or(0), c, out);
                        }
                    }
                }
            }
            NodeEnum::DeleteStmt(d) => {
                if let Some(rv) = &d.relation {
                    out.push(Op::Delete {
                        table: self.table(rv),
                        all_rows: d.where_clause.is_none(),
                    });
                }
            }
            NodeEnum::InsertStmt(i) => {
                if let Some(rv) = &i.relation {
                    out.push(Op::Insert {
                        table: self.table(rv),
                    });
                }
            }
            NodeEnum::CopyStmt(c) if c.is_from => {
                if let Some(rv) = &c.relation {
                    out.push(Op::Insert {
                        table: self.table(rv),
                    });
                }
            }
            NodeEnum::MergeStmt(m) => {
                if let Some(rv) = &m.relation {
                    out.push(Op::Insert {
                        table: self.table(rv),
                    });
                }
            }
            _ => {}
        }
    }

    fn drop(&self, d: &DropStmt, out: &mut Vec<Op>) {
        let names = || -> Vec<Name> {
            d.objects
                .iter()
                .filter_map(|o| {
                    let display = match o.node.as_ref()? {
                        NodeEnum::List(l) => dotted(&l.items),
                        NodeEnum::String(s) => s.sval.clone(),
                        _ => return None,
                    };
                    let last = display.rsplit('.').next().unwrap_or(&display).to_string();
                    Some(Name::new(display.clone(), self.column(&last, 0).at))
                })
                .collect()
        };
        match d.remove_type() {
            ObjectType::ObjectTable => out.push(Op::DropTable { tables: names() }),
            ObjectType::ObjectSchema => out.push(Op::DropSchema { names: names() }),
            ObjectType::ObjectIndex => out.push(Op::DropIndex {
                names: names(),
                concurrently: d.concurrent,
            }),
            _ => {}
        }
    }

    fn rename(&self, r: &RenameStmt, out: &mut Vec<Op>) {
        let Some(rv) = &r.relation else { return };
        match (r.rename_type(), r.relation_type()) {
            (ObjectType::ObjectTable, _) => out.push(Op::RenameTable {
                from: self.table(rv),
                to: r.newname.clone(),
            }),
            (ObjectType::ObjectColumn, ObjectType::ObjectTable) => out.push(Op::RenameColumn {
                table: self.table(rv),
                from: self.column(&r.subname, rv.location),
                to: r.newname.clone(),
            }),
            _ => {}
        }
    }

    fn alter(&self, table: &Name, table_at: i32, c: &AlterTableCmd, out: &mut Vec<Op>) {
        let t = || table.clone();
        let def = c.def.as_ref().and_then(|d| d.node.as_ref());
        match c.subtype() {
            AlterTableType::AtAddColumn => {
                if let Some(NodeEnum::ColumnDef(d)) = def {
                    out.push(Op::AddColumn(self.add_column(table, d)));
                }
            }
            AlterTableType::AtDropColumn => out.push(Op::DropColumn {
                table: t(),
                column: self.column(&c.name, table_at),
            }),
            AlterTableType::AtSetNotNull => out.push(Op::SetNotNull {
                table: t(),
                column: self.column(&c.name, table_at),
            }),
            AlterTableType::AtAlterColumnType => {
                if let Some(NodeEnum::ColumnDef(d)) = def {
                    out.push(Op::AlterType {
                        table: t(),
                        column: self.column(&c.name, table_at),
                        new_type: d.type_name.as_ref().map(type_text).unwrap_or_default(),
                        charset: false,
                        // ALTER COLUMN ... TYPE keeps its USING clause in the definition's default.
                        using_expression: d
                            .raw_default
                            .as_deref()
                            .is_some_and(|e| !is_the_column(e, &c.name)),
                    });
                }
            }
            AlterTableType::AtAddConstraint => {
                if let Some(NodeEnum::Constraint(k)) = def {
                    if let Some(op) = add_constraint(table, k) {
                        out.push(op);
                    }
                }
            }
            AlterTableType::AtValidateConstraint => out.push(Op::ValidateConstraint {
                table: t(),
                name: Name::new(c.name.clone(), None).key,
            }),
            _ => {}
        }
    }

    fn add_column(&self, table: &Name, d: &ColumnDef) -> AddColumn {
        let mut a = AddColumn {
            table: table.clone(),
            column: Name::new(d.colname.clone(), self.at(d.location)),
            data_type: d.type_name.as_ref().map(type_text).unwrap_or_default(),
            not_null: d.is_not_null,
            default: d.raw_default.as_deref().and_then(default_text),
            stored_generated: false,
            identity: !d.identity.is_empty(),
            auto_increment: false,
            primary_key: false,
            unique: false,
            references: false,
        };
        for k in &d.constraints {
            let Some(NodeEnum::Constraint(k)) = k.node.as_ref() else {
                continue;
            };
            match k.contype() {
                ConstrType::ConstrNotnull => a.not_null = true,
                ConstrType::ConstrNull => a.not_null = false,
                ConstrType::ConstrDefault => {
                    a.default = k.raw_expr.as_deref().and_then(default_text);
                }
                ConstrType::ConstrIdentity => a.identity = true,
                // PostgreSQL 18 also has VIRTUAL columns, computed on read: no rewrite.
                ConstrType::ConstrGenerated => a.stored_generated = k.generated_kind != "v",
                ConstrType::ConstrPrimary => {
                    a.primary_key = true;
                    a.not_null = true;
                }
                ConstrType::ConstrUnique => a.unique = true,
                ConstrType::ConstrForeign => a.references = true,
                _ => {}
            }
        }
        a
    }
}

/// `col` or `col::type` (`CAST(col AS type)`): the values themselves, converted as without USING.
fn is_the_column(expr: &Node, column: &str) -> bool {
    match expr.node.as_ref() {
        Some(NodeEnum::ColumnRef(c)) => c
            .fields
            .last()
            .and_then(sval)
            .is_some_and(|f| f.eq_ignore_ascii_case(column)),
        Some(NodeEnum::TypeCast(c)) => c.arg.as_deref().is_some_and(|a| is_the_column(a, column)),
        _ => false,
    }
}

/// A column default as text, `DEFAULT NULL` counting as none.
fn default_text(expr: &Node) -> Option<String> {
    if let Some(NodeEnum::AConst(c)) = expr.node.as_ref() {
        if c.isnull {
            return None;
        }
    }
    expr_text(expr)
}

fn add_constraint(table: &Name, k: &Constraint) -> Option<Op> {
    let kind = match k.contype() {
        ConstrType::ConstrForeign => ConstraintKind::ForeignKey,
        ConstrType::ConstrCheck => ConstraintKind::Check,
        ConstrType::ConstrUnique | ConstrType::ConstrPrimary if !k.indexname.is_empty() => {
            ConstraintKind::UsingIndex
        }
        ConstrType::ConstrUnique => ConstraintKind::Unique,
        ConstrType::ConstrPrimary => ConstraintKind::PrimaryKey,
        ConstrType::ConstrExclusion => ConstraintKind::Exclude,
        _ => return None,
    };
    let not_null_check_of = match k.raw_expr.as_ref().and_then(|e| e.node.as_ref()) {
        Some(NodeEnum::NullTest(n)) if n.nulltesttype() == NullTestType::IsNotNull => {
            match n.arg.as_ref().and_then(|a| a.node.as_ref()) {
                Some(NodeEnum::ColumnRef(c)) => c
                    .fields
                    .last()
                    .and_then(sval)
                    .map(|s| Name::new(s, None).key),
                _ => None,
            }
        }
        _ => None,
    };
    Some(Op::AddConstraint {
        table: table.clone(),
        kind,
        name: (!k.conname.is_empty()).then(|| Name::new(k.conname.clone(), None).key),
        not_valid: k.skip_validation,
        not_null_check_of,
    })
}

fn set_var(v: &VariableSetStmt, out: &mut Vec<Op>) {
    let value = match v.kind() {
        VariableSetKind::VarSetValue => v
            .args
            .iter()
            .filter_map(const_text)
            .collect::<Vec<_>>()
            .join(","),
        VariableSetKind::VarSetDefault | VariableSetKind::VarReset => "default".to_string(),
        _ => return,
    };
    out.push(Op::SetVar {
        name: v.name.to_lowercase(),
        value: value.to_lowercase(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_spelled_like_the_model() {
        let t = |sql: &str| match &analyse(sql).unwrap()[..] {
            [Op::AddColumn(a)] => a.data_type.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(t("ALTER TABLE t ADD COLUMN a varchar(20)"), "varchar(20)");
        assert_eq!(t("ALTER TABLE t ADD COLUMN a int"), "integer");
        assert_eq!(
            t("ALTER TABLE t ADD COLUMN a timestamp with time zone"),
            "timestamptz"
        );
        assert_eq!(
            t("ALTER TABLE t ADD COLUMN a numeric(10, 2)"),
            "numeric(10,2)"
        );
        assert_eq!(t("ALTER TABLE t ADD COLUMN a text[]"), "text[]");
        assert_eq!(t("ALTER TABLE t ADD COLUMN a bigserial"), "bigserial");
        assert_eq!(t("ALTER TABLE t ADD COLUMN a json"), "json");
    }

    #[test]
    fn defaults_and_null_checks() {
        match &analyse("ALTER TABLE t ADD COLUMN a timestamptz DEFAULT now() NOT NULL").unwrap()[..]
        {
            [Op::AddColumn(a)] => {
                assert_eq!(a.default.as_deref(), Some("now()"));
                assert!(a.not_null);
            }
            other => panic!("{other:?}"),
        }
        match &analyse("ALTER TABLE t ADD COLUMN a int DEFAULT NULL").unwrap()[..] {
            [Op::AddColumn(a)] => assert!(a.default.is_none()),
            other => panic!("{other:?}"),
        }
        match &analyse("ALTER TABLE t ADD CONSTRAINT c CHECK (a IS NOT NULL) NOT VALID").unwrap()[..]
        {
            [Op::AddConstraint {
                not_valid: true,
                not_null_check_of: Some(c),
                name: Some(n),
                ..
            }] => assert_eq!((c.as_str(), n.as_str()), ("a", "c")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn using_expressions_that_compute_values() {
        let using = |sql: &str| match &analyse(sql).unwrap()[..] {
            [Op::AlterType {
                using_expression, ..
            }] => *using_expression,
            other => panic!("{other:?}"),
        };
        assert!(!using("ALTER TABLE t ALTER COLUMN a TYPE timestamptz"));
        assert!(!using(
            "ALTER TABLE t ALTER COLUMN a TYPE timestamptz USING a::timestamptz"
        ));
        assert!(!using(
            "ALTER TABLE t ALTER COLUMN a TYPE text USING CAST(a AS text)"
        ));
        assert!(using(
            "ALTER TABLE t ALTER COLUMN a TYPE timestamptz USING a AT TIME ZONE 'Europe/Paris'"
        ));
        assert!(using(
            "ALTER TABLE t ALTER COLUMN a TYPE text USING lower(a)"
        ));
    }

    #[test]
    fn each_subcommand_points_at_its_own_mention() {
        let sql =
            "ALTER TABLE d\n  ALTER COLUMN kind SET DEFAULT 0,\n  ALTER COLUMN kind SET NOT NULL";
        match &analyse(sql).unwrap()[..] {
            [Op::SetNotNull { column, .. }] => {
                assert_eq!(column.at, Some(Loc { line: 3, col: 16 }));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn column_positions_point_at_the_column() {
        match &analyse("ALTER TABLE users\n  ALTER COLUMN email SET NOT NULL").unwrap()[..] {
            [Op::SetNotNull { column, table }] => {
                assert_eq!(table.key, "users");
                assert_eq!(column.at, Some(Loc { line: 2, col: 16 }));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_points_at_a_unique_token() {
        let sql = "DROP TABLE users CASCADE WHATEVER";
        let msg = analyse(sql).unwrap_err();
        assert!(msg.contains("syntax error"), "{msg}");
        assert_eq!(error_loc(sql, &msg), Some(Loc { line: 1, col: 26 }));
    }
}
