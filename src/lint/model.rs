//! The lint's own model of a statement: what it does to which objects, independent of the
//! parser's AST (so that rules stay simple and the keyword fallback can produce the same model).

/// A position relative to the start of a statement: line 1 is the statement's first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub line: usize,
    pub col: usize,
}

/// An object name as written (`public."Users"`) and its comparison key (`users`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub display: String,
    /// Lower-cased last part without quotes: what "the same table" is compared by.
    pub key: String,
    pub at: Option<Loc>,
}

impl Name {
    pub fn new(display: impl Into<String>, at: Option<Loc>) -> Self {
        let display = display.into();
        let last = display.rsplit('.').next().unwrap_or(&display);
        let key = last
            .trim_matches(|c| c == '"' || c == '`' || c == '[' || c == ']')
            .to_lowercase();
        Name { display, key, at }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    ForeignKey,
    Check,
    Unique,
    PrimaryKey,
    /// `UNIQUE USING INDEX` / `PRIMARY KEY USING INDEX`: attaches an existing index.
    UsingIndex,
    Exclude,
    /// MySQL `ADD INDEX` / `ADD KEY`.
    Index,
    Fulltext,
}

/// A column added by `ALTER TABLE ... ADD COLUMN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddColumn {
    pub table: Name,
    pub column: Name,
    /// The declared type, lower-case (`varchar(20)`, `bigserial`).
    pub data_type: String,
    pub not_null: bool,
    /// The default expression, lower-case, when there is one (`DEFAULT NULL` counts as none).
    pub default: Option<String>,
    pub stored_generated: bool,
    /// `GENERATED ... AS IDENTITY`.
    pub identity: bool,
    /// MySQL `AUTO_INCREMENT`.
    pub auto_increment: bool,
    pub primary_key: bool,
    pub unique: bool,
    pub references: bool,
}

impl AddColumn {
    /// `serial`, `bigserial`, `smallserial`, `serial4`, `serial8`, `serial2`.
    pub fn is_serial(&self) -> bool {
        let t = self.data_type.as_str();
        matches!(
            t,
            "serial" | "bigserial" | "smallserial" | "serial2" | "serial4" | "serial8"
        )
    }
}

/// One effect of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    CreateTable {
        table: Name,
        /// (column key, lower-case type)
        columns: Vec<(String, String)>,
    },
    CreateIndex {
        name: Option<Name>,
        table: Name,
        concurrently: bool,
        unique: bool,
        fulltext: bool,
    },
    DropIndex {
        names: Vec<Name>,
        concurrently: bool,
    },
    Reindex {
        target: String,
        concurrently: bool,
    },
    AddColumn(AddColumn),
    DropColumn {
        table: Name,
        column: Name,
    },
    RenameColumn {
        table: Name,
        from: Name,
        to: String,
    },
    RenameTable {
        from: Name,
        to: String,
    },
    /// PG `ALTER COLUMN ... TYPE`, MySQL `MODIFY` / `CHANGE`.
    AlterType {
        table: Name,
        column: Name,
        new_type: String,
        /// MySQL `MODIFY/CHANGE ... CHARACTER SET x`.
        charset: bool,
        /// Postgres `USING expr` that computes new values (anything but the column itself or a
        /// plain cast of it): the server rewrites whatever the types.
        using_expression: bool,
    },
    SetNotNull {
        table: Name,
        column: Name,
    },
    AddConstraint {
        table: Name,
        kind: ConstraintKind,
        name: Option<String>,
        not_valid: bool,
        /// For `CHECK (col IS NOT NULL)`: the column.
        not_null_check_of: Option<String>,
    },
    ValidateConstraint {
        table: Name,
        name: String,
    },
    DropPrimaryKey {
        table: Name,
    },
    DropTable {
        tables: Vec<Name>,
    },
    /// `DROP SCHEMA`, MySQL `DROP DATABASE`.
    DropSchema {
        names: Vec<Name>,
    },
    Truncate {
        tables: Vec<Name>,
    },
    VacuumFull {
        table: Option<Name>,
    },
    Cluster {
        table: Option<Name>,
    },
    /// MySQL `ALGORITHM=...` (lower-case value).
    Algorithm {
        table: Name,
        algorithm: String,
    },
    /// MySQL `LOCK=...` (lower-case value).
    Lock {
        table: Name,
        lock: String,
    },
    /// MySQL `CONVERT TO CHARACTER SET`, `[DEFAULT] CHARACTER SET` on a table.
    ConvertCharset {
        table: Name,
    },
    /// `SET [SESSION|LOCAL] name = value` (both lower-case, quotes removed from the value).
    SetVar {
        name: String,
        value: String,
    },
    Begin,
    Commit,
    /// `DELETE FROM t` (`all_rows` without a WHERE clause).
    Delete {
        table: Name,
        all_rows: bool,
    },
    /// Rows written into a table: INSERT, COPY FROM, MERGE, REPLACE, LOAD DATA.
    Insert {
        table: Name,
    },
    /// Postgres `CREATE [OR REPLACE] FUNCTION` (lower-case unqualified name): VOLATILE unless
    /// declared IMMUTABLE or STABLE.
    CreateFunction {
        name: String,
        volatile: bool,
    },
}

impl Op {
    /// The existing table this operation locks, if any (None for CREATE TABLE and for
    /// settings/transaction control).
    pub fn table(&self) -> Option<&Name> {
        match self {
            Op::CreateIndex { table, .. }
            | Op::AddColumn(AddColumn { table, .. })
            | Op::DropColumn { table, .. }
            | Op::RenameColumn { table, .. }
            | Op::AlterType { table, .. }
            | Op::SetNotNull { table, .. }
            | Op::AddConstraint { table, .. }
            | Op::ValidateConstraint { table, .. }
            | Op::DropPrimaryKey { table }
            | Op::Algorithm { table, .. }
            | Op::Lock { table, .. }
            | Op::ConvertCharset { table } => Some(table),
            Op::RenameTable { from, .. } => Some(from),
            Op::DropTable { tables } | Op::Truncate { tables } => tables.first(),
            Op::VacuumFull { table } | Op::Cluster { table } => table.as_ref(),
            _ => None,
        }
    }

    /// Where in the statement to point for this operation.
    pub fn at(&self) -> Option<Loc> {
        match self {
            Op::AddColumn(a) => a.column.at,
            Op::DropColumn { column, .. }
            | Op::SetNotNull { column, .. }
            | Op::AlterType { column, .. } => column.at,
            Op::RenameColumn { from, .. } => from.at,
            Op::CreateIndex { table, .. } => table.at,
            _ => self.table().and_then(|t| t.at),
        }
    }
}

/// How a statement is classified for sequence-level rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// CREATE / ALTER / DROP / RENAME / TRUNCATE: commits implicitly on MySQL.
    Ddl,
    Transaction,
    Set,
    Other,
}

/// One statement of a script, analysed.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub sql: String,
    /// 1-based line of the statement's first token in the file.
    pub line: usize,
    /// 1-based column of the statement's first token on that line.
    pub col: usize,
    pub kind: Kind,
    pub ops: Vec<Op>,
    /// The parser's complaint when it could not read the statement (the ops then come from
    /// the keyword fallback and may be incomplete).
    pub parse_error: Option<(String, Option<Loc>)>,
}

impl Stmt {
    /// Absolute (line, column) in the file for a position relative to the statement.
    pub fn locate(&self, at: Option<Loc>) -> (usize, usize) {
        match at {
            Some(Loc { line, col }) if line >= 1 && col >= 1 => {
                if line == 1 {
                    (self.line, self.col + col - 1)
                } else {
                    (self.line + line - 1, col)
                }
            }
            _ => (self.line, self.col),
        }
    }
}
