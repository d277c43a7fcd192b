//! A real SMTP server for tests and benchmarks: it speaks enough of RFC 5321 for lettre
//! (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), keeps every accepted message, and can be told to
//! answer DATA with a temporary (451) or permanent (554) failure, or to be slow.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

#[derive(Clone, Debug)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

impl Received {
    /// A header's value (first occurrence, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.data);
        let head = text.split("\r\n\r\n").next().unwrap_or("");
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(current) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    current.push(' ');
                    current.push_str(line.trim());
                    continue;
                }
                break;
            }
            if let Some((key, rest)) = line.split_once(':')
                && key.eq_ignore_ascii_case(name)
            {
                value = Some(rest.trim().to_owned());
            }
        }
        value
    }

    pub fn message_id(&self) -> String {
        self.header("Message-ID").unwrap_or_default()
    }
}

/// How to answer the end of a DATA command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    Accept,
    /// 451: try again later.
    Transient,
    /// 554: rejected for good.
    Permanent,
}

type Policy = dyn Fn(&Received, usize) -> Reply + Send + Sync;

struct State {
    received: Vec<Received>,
    /// Messages seen (accepted or not), numbering the policy's calls.
    seen: usize,
}

pub struct SmtpSink {
    pub address: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        SmtpSink::start_with(Duration::ZERO, |_, _| Reply::Accept).await
    }

    /// `policy(message, n)` decides the answer to the n-th message (from 0); `delay` is spent
    /// before answering each DATA, to make sends take time.
    pub async fn start_with(
        delay: Duration,
        policy: impl Fn(&Received, usize) -> Reply + Send + Sync + 'static,
    ) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind SMTP sink");
        let address = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            received: Vec::new(),
            seen: 0,
        }));
        let policy: Arc<Policy> = Arc::new(policy);
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                let policy = policy.clone();
                tokio::spawn(async move {
                    let _ = session(stream, state, policy, delay).await;
                });
            }
        });
        SmtpSink {
            address,
            state,
            task,
        }
    }

    /// `smtp://127.0.0.1:<port>`: on loopback the drainer uses STARTTLS only if offered, and
    /// this sink does not offer it.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.address)
    }

    pub fn messages(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    pub fn count(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }

    pub async fn wait_for(&self, count: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.count() >= count {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.count() >= count
    }
}

fn address_in(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(addr, _)| addr.to_owned())
        .unwrap_or_default()
}

async fn session(
    stream: TcpStream,
    state: Arc<Mutex<State>>,
    policy: Arc<Policy>,
    delay: Duration,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 sink ESMTP ready\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => {
                write
                    .write_all(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                    .await?
            }
            "HELO" => write.write_all(b"250 sink\r\n").await?,
            "MAIL" => {
                from = address_in(&command);
                to.clear();
                write.write_all(b"250 OK\r\n").await?;
            }
            "RCPT" => {
                to.push(address_in(&command));
                write.write_all(b"250 OK\r\n").await?;
            }
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = Vec::new();
                loop {
                    line.clear();
                    if reader.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                    // Undo dot-stuffing.
                    let content = if line.starts_with(b"..") {
                        &line[1..]
                    } else {
                        &line[..]
                    };
                    data.extend_from_slice(content);
                }
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let message = Received {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    data,
                };
                let reply = {
                    let mut state = state.lock().unwrap();
                    let n = state.seen;
                    state.seen += 1;
                    let reply = policy(&message, n);
                    if reply == Reply::Accept {
                        state.received.push(message);
                    }
                    reply
                };
                let answer: &[u8] = match reply {
                    Reply::Accept => b"250 OK queued\r\n",
                    Reply::Transient => b"451 4.3.0 Try again later\r\n",
                    Reply::Permanent => b"554 5.7.1 Rejected\r\n",
                };
                write.write_all(answer).await?;
            }
            "RSET" => {
                to.clear();
                write.write_all(b"250 OK\r\n").await?;
            }
            "NOOP" => write.write_all(b"250 OK\r\n").await?,
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            _ => write.write_all(b"502 Command not implemented\r\n").await?,
        }
    }
}
