//! How a command reaches the node of a home: through the running daemon's
//! socket when `entraide serve` runs there, else by opening the home itself.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

use chrono_tz::Tz;
use entraide_node::{ErrorReply, Home, Node, NodeError, Reply, Request};
use entraide_store::OpenError;

/// A command's failure, with its exit code.
#[derive(Debug)]
pub struct Failure {
    /// One line.
    pub message: String,
    /// 2 for bad input or usage, 1 otherwise.
    pub exit_code: i32,
}

impl From<NodeError> for Failure {
    fn from(e: NodeError) -> Self {
        Self {
            message: e.to_string(),
            exit_code: e.exit_code(),
        }
    }
}

/// Sends `request` to the daemon of `home`; `None` if none answers.
pub fn ask_daemon(home: &Home, request: &Request) -> Option<Result<Reply, Failure>> {
    let mut stream = UnixStream::connect(home.socket_path()).ok()?;
    let mut line = serde_json::to_vec(request).ok()?;
    line.push(b'\n');
    stream.write_all(&line).ok()?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).ok()?;
    let parsed: Result<Reply, ErrorReply> = serde_json::from_str(&answer).ok()?;
    Some(parsed.map_err(|e| Failure {
        message: e.message,
        exit_code: e.exit_code,
    }))
}

/// Runs `request` on the node of `home`: through the daemon if one runs,
/// else directly.
///
/// A request that only reads ([`Request::only_reads`]) opens the home to
/// read only; should it write after all, it is asked again of the home
/// opened to write.
pub fn execute(home: &Home, zone: Tz, request: Request) -> Result<Reply, Failure> {
    match reach(home, zone, Some(&request))? {
        Reached::Daemon(answer) => answer,
        Reached::Node(mut node) => match node.execute(request.clone()) {
            Err(e) if e.is_read_only() => {
                drop(node);
                Ok(open_node(home, zone)?.execute(request)?)
            }
            answer => Ok(answer?),
        },
    }
}

/// Opens the node of `home`, explaining a held lock.
///
/// Another short command may hold the home for a moment: wait for it (up
/// to 10 s) rather than fail.
pub fn open_node(home: &Home, zone: Tz) -> Result<Node, Failure> {
    match reach(home, zone, None)? {
        Reached::Node(node) => Ok(*node),
        // Never asked without a request.
        Reached::Daemon(answer) => answer.and(Err(Failure {
            message: "the home is served by `entraide serve`".into(),
            exit_code: 1,
        })),
    }
}

/// Who answered.
enum Reached {
    Daemon(Result<Reply, Failure>),
    Node(Box<Node>),
}

/// Opens the node of `home`, or, with a `request`, has its daemon answer
/// it. While another process holds the home (a short command, or `serve`
/// starting, whose socket comes up a moment after it takes the home), asks
/// again, the socket first, for up to 10 s.
fn reach(home: &Home, zone: Tz, request: Option<&Request>) -> Result<Reached, Failure> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut pause = std::time::Duration::from_millis(5);
    loop {
        if let Some(answer) = request.and_then(|r| ask_daemon(home, r)) {
            return Ok(Reached::Daemon(answer));
        }
        let opened = match request {
            Some(r) if r.only_reads() => Node::open_to_read(home, zone),
            _ => Node::open(home, zone),
        };
        match opened {
            Ok(node) => return Ok(Reached::Node(Box::new(node))),
            Err(NodeError::Open(OpenError::Locked { .. }))
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(200));
            }
            Err(NodeError::Open(OpenError::Locked { .. })) => {
                return Err(Failure {
                    message: "another entraide process has held this home for over 10 s and does not answer on its socket; wait for it to finish or stop it".into(),
                    exit_code: 1,
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
}
