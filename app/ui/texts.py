"""The interface's own words, in English and Simplified Chinese, in one place.

Every label, button, heading, hint and message the UI writes itself is a key here with both languages;
pages call ``t(key, **fields)`` and get it in this session's language (app/ui/language.py). Kept in one
catalogue, not in if/else at each call, so a missing translation or a placeholder spelt differently in one
language is one test away (tests/test_ui_texts.py), and a translator reads one file. What users and
documents supply (file names, reasons from the index, answers) is passed in as a field, never translated.
"""

from __future__ import annotations

from typing import NamedTuple

from app.ui.language import Lang, current_language


class Text(NamedTuple):
    en: str
    zh: str


TEXTS: dict[str, Text] = {
    # app/ui/main.py, app/ui/access.py
    "app.config_error": Text("deeprag: {error}", "deeprag 配置有误：{error}"),
    "page.chat": Text("Chat", "对话"),
    "page.documents": Text("Documents", "文档"),
    "page.benchmarks": Text("Benchmarks", "基准测试"),
    "access.token": Text("Access token", "访问令牌"),
    "access.token_help": Text("This deeprag asks for its ui.access_token; whoever runs it can give it to you.",
                              "此 deeprag 需要其 ui.access_token；请向运行它的人索取。"),
    "access.open": Text("Open", "进入"),
    "access.wrong": Text("That is not this deeprag's access token; check it with whoever runs the server.",
                         "访问令牌不正确；请向运行服务器的人核实。"),
    # app/ui/sidebar.py
    "sidebar.language": Text("Language", "界面语言"),
    "sidebar.language_auto": Text("As the browser", "跟随浏览器"),
    "sidebar.index": Text("Index", "索引"),
    "sidebar.index_dir": Text("Index directory", "索引目录"),
    "sidebar.new_index": Text("Open another index directory", "打开其他索引目录"),
    "sidebar.new_index_help": Text("Press Enter; a new folder becomes a new, empty index",
                                   "按回车确认；新文件夹会成为一个新的空索引"),
    "sidebar.retrieval": Text("Retrieval", "检索"),
    "sidebar.top_k": Text("Passages (top-k)", "段落数（top-k）"),
    "sidebar.mode": Text("Mode", "模式"),
    "sidebar.rerank": Text("Rerank with the cross-encoder", "用交叉编码器重排"),
    "sidebar.no_reranker": Text("retrieval.reranker_model is empty", "未设置 retrieval.reranker_model"),
    "sidebar.llm": Text("LLM", "大模型"),
    "sidebar.temperature": Text("Temperature", "温度"),
    "sidebar.max_tokens": Text("Max answer tokens", "回答最大词元数"),
    "sidebar.endpoint": Text("Endpoint", "服务地址"),
    "sidebar.model": Text("Model", "模型"),
    "sidebar.model_placeholder": Text("(first model the server lists)", "（服务器列出的第一个模型）"),
    "sidebar.settings_error": Text("{error}; using the configured settings until it is fixed",
                                   "{error}；修正之前沿用配置文件中的设置"),
    "sidebar.no_index": Text("No index here yet: add documents on the Documents page.",
                             "这里还没有索引：请在“文档”页添加文档。"),
    "sidebar.index_size": Text("{files} files · {chunks} chunks", "{files} 个文件 · {chunks} 个分块"),
    # app/ui/health.py
    "health.ok": Text("🟢 LLM serving {model}", "🟢 大模型在线：{model}"),
    "health.unreachable": Text("🔴 LLM unreachable", "🔴 无法连接大模型"),
    "health.model_missing": Text("🟠 LLM reachable, but model '{model}' is not served (it serves {served})",
                                 "🟠 大模型服务可连接，但未提供模型“{model}”（它提供：{served}）"),
    "health.no_model": Text("no model", "无模型"),
    "health.error": Text("🔴 LLM error", "🔴 大模型出错"),
    # app/ui/chat_list.py
    "chats.title": Text("Chats", "对话列表"),
    "chats.new": Text("➕ New chat", "➕ 新对话"),
    "chats.one_question": Text("1 question · {when}", "1 个问题 · {when}"),
    "chats.questions": Text("{count} questions · {when}", "{count} 个问题 · {when}"),
    # app/ui/views/chat.py, app/ui/turn_view.py
    "chat.input": Text("Ask a question about your documents", "就你的文档提问"),
    "chat.where_from": Text("Answers come from the index at `{index}` and the LLM at {llm}.",
                            "回答来自 `{index}` 的索引和 {llm} 的大模型。"),
    "turn.empty_index": Text("The index has no documents yet, so there is nothing to answer from.",
                             "索引里还没有文档，无从回答。"),
    "turn.add_documents": Text("Add documents on the Documents page", "在“文档”页添加文档"),
    "turn.searched_for": Text("Searched for: {query}", "检索的是：{query}"),
    "turn.stopped": Text("stopped", "已停止"),
    "turn.stopped_tip": Text("You pressed Stop: the answer ends here and was not checked against the passages",
                             "你按了停止：回答到此为止，未与段落核对"),
    "turn.stopped_early": Text("before the first word", "（尚未写出任何内容）"),
    "turn.no_text": Text("The model returned no text.", "模型没有返回任何文字。"),
    "turn.copy": Text("📋 Copy answer", "📋 复制回答"),
    "turn.stop": Text("⏹ Stop", "⏹ 停止"),
    "turn.stop_help": Text("End this answer here; what it wrote so far is kept", "在此结束回答；已写出的内容会保留"),
    "turn.writing": Text("Found {count} passages; writing the answer…", "找到 {count} 个段落，正在撰写回答…"),
    "turn.searching": Text("Searching…", "正在检索…"),
    "turn.waiting": Text("Waiting to start…", "等待开始…"),
    "turn.queued": Text("⏳ Queued: answered as soon as the answer above is finished.",
                        "⏳ 排队中：上面的回答完成后立即作答。"),
    "turn.timing.rewrite": Text("rewrite {ms} ms", "改写 {ms} 毫秒"),
    "turn.timing.retrieve": Text("retrieve {ms} ms", "检索 {ms} 毫秒"),
    "turn.timing.rerank": Text("rerank {ms} ms", "重排 {ms} 毫秒"),
    "turn.timing.first_token": Text("first token {ms} ms", "首个词元 {ms} 毫秒"),
    "turn.timing.total": Text("total {ms} ms", "总计 {ms} 毫秒"),
    "turn.tokens": Text("{prompt} prompt + {answer} answer tokens", "提示 {prompt} + 回答 {answer} 个词元"),
    # app/ui/answer_marks.py
    "marks.not_grounded": Text("No sentence of this answer is supported by the passages",
                               "这个回答没有一句得到段落的支持"),
    "marks.unsupported": Text("unsupported", "无依据"),
    "marks.unsupported_tip": Text("The cited passage {cited} does not say this", "所引段落 {cited} 并没有这样说"),
    "marks.uncited": Text("no source", "无出处"),
    "marks.uncited_tip": Text("No passage is cited for this sentence", "这句话没有引用任何段落"),
    "marks.uncited_similar_tip": Text("No passage is cited for this sentence; passage [{number}] says something "
                                      "like it", "这句话没有引用任何段落；段落 [{number}] 有类似的内容"),
    "marks.repointed_tip": Text("The answer cited {cited}; this passage is the one that says it",
                                "回答引用的是 {cited}；说这句话的是这个段落"),
    # app/ui/source_cards.py
    "sources.low_relevance": Text("low relevance", "低相关"),
    "sources.closest": Text("Closest passages", "最接近的段落"),
    "sources.none_relevant": Text("None was relevant enough to answer from, so no answer was written from them.",
                                  "没有一个段落相关到足以作答，因此没有据此撰写回答。"),
    "sources.sources": Text("Sources", "出处"),
    "sources.retrieved": Text("Retrieved passages", "检索到的段落"),
    "sources.more": Text("{count} more retrieved passages", "另外 {count} 个检索到的段落"),
    "sources.page": Text("page {page}", "第 {page} 页"),
    "sources.characters": Text("characters {start}–{end}", "字符 {start}–{end}"),
    "sources.whole": Text("Whole passage", "完整段落"),
    # app/ui/notices.py
    "notices.dismiss": Text("Dismiss", "关闭"),
    "notices.dismiss_all": Text("Dismiss all messages", "关闭全部消息"),
    # app/ui/views/documents.py, app/ui/doc_table.py, app/ui/jobs.py
    "docs.title": Text("Documents", "文档"),
    "docs.index": Text("Index: `{index}`", "索引：`{index}`"),
    "docs.upload_tab": Text("Upload files", "上传文件"),
    "docs.folder_tab": Text("Ingest a folder", "导入文件夹"),
    "docs.files": Text("Files ({types}; up to {mb} MB each)", "文件（{types}；每个最大 {mb} MB）"),
    "docs.upload": Text("Upload and ingest", "上传并导入"),
    "docs.folder": Text("Folder or file on the server", "服务器上的文件夹或文件"),
    "docs.folder_help": Text("Changed and new files are embedded; unchanged ones are skipped.",
                             "新增和改动的文件会被向量化；未改动的会跳过。"),
    "docs.ingest": Text("Ingest", "导入"),
    "docs.ingesting_uploads": Text("Ingesting {count} uploaded file(s)", "正在导入 {count} 个上传的文件"),
    "docs.replacing_uploads": Text("Replacing {count} uploaded file(s)", "正在替换 {count} 个上传的文件"),
    "docs.ingesting_path": Text("Ingesting {path}", "正在导入 {path}"),
    "docs.deleting": Text("Deleting {count} document(s)", "正在删除 {count} 个文档"),
    "docs.renamed": Text("{name} was saved as {saved}: uploaded names are reduced to one plain file name (no "
                         "folders, no leading dots or reserved characters)",
                         "{name} 已保存为 {saved}：上传的文件名会被简化为一个普通文件名（不含文件夹、开头的点或保留字符）"),
    "docs.kept": Text("Kept the existing {existing}; the new {name} was not saved",
                      "保留了现有的 {existing}；新的 {name} 没有保存"),
    "docs.replace_question": Text("A different file is already uploaded under each of these names. Tick the ones "
                                  "to replace: the new content then replaces the old in the index.",
                                  "这些名字下已经上传过不同的文件。勾选要替换的：新内容会在索引中取代旧内容。"),
    "docs.replace_one": Text("Replace {existing} ({old}) with the new file ({kb} KB)",
                             "用新文件（{kb} KB）替换 {existing}（{old}）"),
    "docs.replace_go": Text("Replace ticked files and ingest", "替换勾选的文件并导入"),
    "docs.wait_for_job": Text("Waits for the running job", "需等待正在运行的任务"),
    "docs.keep_existing": Text("Keep the existing files", "保留现有文件"),
    "docs.file_gone": Text("gone", "已不存在"),
    "docs.file_age": Text("{kb} KB, uploaded {when}", "{kb} KB，上传于 {when}"),
    "docs.progress": Text("{label}: {done} of {total} files", "{label}：{done}/{total} 个文件"),
    "docs.status": Text("Document status", "文档状态"),
    "docs.none": Text("No documents yet. Upload files above, or ingest a folder.",
                      "还没有文档。请在上方上传文件，或导入一个文件夹。"),
    "docs.counts": Text("{documents} documents · {chunks} chunks", "{documents} 个文档 · {chunks} 个分块"),
    "docs.counts_failed": Text("{documents} documents · {chunks} chunks · {failed} failed",
                               "{documents} 个文档 · {chunks} 个分块 · {failed} 个失败"),
    "docs.failed_one": Text("{name} failed: {reason}", "{name} 失败：{reason}"),
    "docs.more_failed": Text("… and {count} more failed; the table lists every reason",
                             "……另有 {count} 个失败；表格列出了全部原因"),
    "docs.dismiss_failed": Text("Dismiss {count} failed", "清除 {count} 个失败项"),
    "docs.dismiss_failed_help": Text("Removes them from this list; a failed upload's stored copy is deleted too",
                                     "从列表中移除；失败的上传文件的存档副本也会删除"),
    "docs.preview": Text("Preview a document's chunks", "预览文档的分块"),
    "docs.document": Text("Document", "文档"),
    "docs.preview_caption": Text("The first {shown} of {count} chunks, as search sees them",
                                 "共 {count} 个分块中的前 {shown} 个，即检索所见的内容"),
    "docs.chunk": Text("**Chunk {number}** · {where}", "**分块 {number}** · {where}"),
    "docs.delete_section": Text("Delete documents", "删除文档"),
    "docs.delete_choice": Text("Documents to delete", "要删除的文档"),
    "docs.delete_note": Text("Uploaded files are deleted from the upload folder too; files ingested from a folder "
                             "on the server stay where they are.",
                             "上传的文件会一并从上传文件夹中删除；从服务器文件夹导入的文件保留原处。"),
    "docs.delete": Text("Delete", "删除"),
    "docs.col.document": Text("document", "文档"),
    "docs.col.status": Text("status", "状态"),
    "docs.col.folder": Text("folder", "文件夹"),
    "docs.col.chunks": Text("chunks", "分块"),
    "docs.col.size": Text("size (KB)", "大小（KB）"),
    "docs.col.ingested": Text("ingested", "导入时间"),
    "doc.indexed": Text("indexed", "已索引"),
    "doc.ingesting": Text("ingesting", "导入中"),
    "doc.deleting": Text("deleting", "删除中"),
    "doc.failed": Text("failed: {reason}", "失败：{reason}"),
    "doc.failed_still_indexed": Text("failed: {reason}; the previous version is still indexed",
                                     "失败：{reason}；之前的版本仍在索引中"),
    "job.failed": Text("{label} failed: {message}", "{label} 失败：{message}"),
    "job.done": Text("{label}: {added} added, {updated} updated, {unchanged} unchanged{more}; {chunks} chunks in "
                     "{seconds} s", "{label}：新增 {added}，更新 {updated}，未变 {unchanged}{more}；"
                     "{chunks} 个分块，用时 {seconds} 秒"),
    "job.removed": Text(", {count} removed", "，删除 {count}"),
    "job.skipped": Text(", {count} skipped", "，跳过 {count}"),
    # app/ui/views/benchmarks.py, app/ui/runs.py
    "bench.title": Text("Benchmarks", "基准测试"),
    "bench.no_runs": Text("No runs in `{folder}` yet. Create one with `deeprag eval …`; each run is a folder there.",
                          "`{folder}` 中还没有运行记录。用 `deeprag eval …` 创建；每次运行是其中的一个文件夹。"),
    "bench.col.run": Text("run", "运行"),
    "bench.col.kind": Text("kind", "类型"),
    "bench.col.dataset": Text("dataset", "数据集"),
    "bench.col.queries": Text("queries", "查询数"),
    "bench.col.status": Text("status", "状态"),
    "bench.col.updated": Text("updated", "更新时间"),
    "bench.col.metric": Text("metric", "指标"),
    "bench.col.value": Text("value", "数值"),
    "bench.finished": Text("finished", "已完成"),
    "bench.unfinished": Text("unfinished", "未完成"),
    "bench.unfinished_run": Text("{name} (unfinished: no metrics.json yet)", "{name}（未完成：尚无 metrics.json）"),
    "bench.one_run": Text("One run", "单次运行"),
    "bench.compare": Text("Compare two runs", "比较两次运行"),
    "bench.run": Text("Run", "运行"),
    "bench.run_a": Text("Run A", "运行 A"),
    "bench.run_b": Text("Run B", "运行 B"),
    "bench.no_metrics": Text("This run has no metrics.json yet (still running, or stopped early).",
                             "这次运行还没有 metrics.json（仍在运行，或提前停止了）。"),
    "bench.metrics": Text("Metrics", "指标"),
    "bench.report": Text("Report", "报告"),
    "bench.plots": Text("Plots", "图表"),
    "bench.config": Text("Config", "配置"),
    "bench.no_report": Text("_no report.md_", "_没有 report.md_"),
    "bench.no_plots": Text("no plots", "没有图表"),
    "bench.only_one": Text("Only one run so far; a comparison needs two.", "目前只有一次运行；比较需要两次。"),
}


def t(key: str, lang: Lang | None = None, /, **fields: object) -> str:
    """The text ``key`` in ``lang`` (default: this session's language) with ``fields`` filled in."""
    text = getattr(TEXTS[key], lang or current_language())
    return text.format(**fields) if fields else text
